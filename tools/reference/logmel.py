"""WAV loading and OpenAI's log-mel spectrogram in float64 numpy (ORACLE.md "Log-mel (facts)").

n_fft 400, hop 160, periodic Hann window, reflect-padded centred STFT, power spectrum, last frame
dropped, mel filterbank from mel_filters.npz, log10(max(x, 1e-10)), max(x, max(x) - 8),
(x + 4) / 4. openai/whisper pads the whole file with 30 s of zeros first; the first window is
the first 3000 frames.
"""

import wave

import numpy as np

SAMPLE_RATE = 16000
N_FFT = 400
HOP = 160
N_SAMPLES = 30 * SAMPLE_RATE  # 480000
N_FRAMES = N_SAMPLES // HOP  # 3000


def load_wav_16k_mono(path):
    """int16 PCM WAV -> float32 in [-1, 1) (x / 32768), as openai/whisper's ffmpeg path gives."""
    with wave.open(path, "rb") as w:
        sr = w.getframerate()
        ch = w.getnchannels()
        sw = w.getsampwidth()
        n = w.getnframes()
        raw = w.readframes(n)
    if sw != 2:
        raise ValueError(f"{path}: expected 16-bit PCM, got {8 * sw}-bit")
    if sr != SAMPLE_RATE:
        raise ValueError(f"{path}: expected {SAMPLE_RATE} Hz, got {sr}")
    x = np.frombuffer(raw, dtype="<i2").astype(np.float32)
    if ch > 1:
        x = x.reshape(-1, ch).mean(axis=1)
    return (x / 32768.0).astype(np.float32)


def load_mel_filters(npz_path, n_mels):
    with np.load(npz_path) as f:
        key = f"mel_{n_mels}"
        if key not in f:
            raise KeyError(f"{npz_path}: no {key} (has {list(f.keys())})")
        return np.asarray(f[key], dtype=np.float32)


def hann_periodic(n):
    k = np.arange(n, dtype=np.float64)
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * k / n)


def log_mel_openai(audio, filters, pad_samples=N_SAMPLES):
    """float64 log-mel of `audio` padded with `pad_samples` zeros; returns [n_mels, n_frames]."""
    x = np.asarray(audio, dtype=np.float64)
    if pad_samples:
        x = np.concatenate([x, np.zeros(pad_samples, dtype=np.float64)])
    half = N_FFT // 2
    xp = np.pad(x, (half, half), mode="reflect")
    n_frames = 1 + (len(xp) - N_FFT) // HOP
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n_frames)[:, None]
    frames = xp[idx] * hann_periodic(N_FFT)[None, :]
    spec = np.fft.rfft(frames, axis=-1)  # [n_frames, 201]
    power = (spec.real ** 2 + spec.imag ** 2)[:-1]  # drop the last frame
    mel = np.asarray(filters, dtype=np.float64) @ power.T  # [n_mels, n_frames - 1]
    log_spec = np.log10(np.maximum(mel, 1e-10))
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    return (log_spec + 4.0) / 4.0


def first_window(mel, n_frames=N_FRAMES):
    out = mel[:, :n_frames]
    if out.shape[1] < n_frames:
        out = np.pad(out, ((0, 0), (0, n_frames - out.shape[1])))
    return out
