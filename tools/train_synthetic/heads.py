"""Alignment-head selection and word timing by cross-attention DTW (openai/whisper timing.py's
method: per-head attention over the clip's frames, standardised over tokens, median filter
width 7, DTW on the negated matrix, word boundaries at the token jumps). numpy only; the caller
supplies the cross-attention weights."""

import numpy as np

TOKENS_PER_SECOND = 50  # 1500 encoder positions per 30 s


def dtw(x):
    """x: [N tokens, M frames] cost. Returns (text_indices, time_indices) along the path
    (openai/whisper timing.dtw_cpu + backtrace)."""
    N, M = x.shape
    cost = np.full((N + 1, M + 1), np.inf)
    trace = -np.ones((N + 1, M + 1), dtype=np.int8)
    cost[0, 0] = 0
    for j in range(1, M + 1):
        for i in range(1, N + 1):
            c0 = cost[i - 1, j - 1]
            c1 = cost[i - 1, j]
            c2 = cost[i, j - 1]
            if c0 < c1 and c0 < c2:
                c, t = c0, 0
            elif c1 < c0 and c1 < c2:
                c, t = c1, 1
            else:
                c, t = c2, 2
            cost[i, j] = x[i - 1, j - 1] + c
            trace[i, j] = t
    i, j = N, M
    trace[0, :] = 2
    trace[:, 0] = 1
    path = []
    while i > 0 or j > 0:
        path.append((i - 1, j - 1))
        t = trace[i, j]
        if t == 0:
            i, j = i - 1, j - 1
        elif t == 1:
            i -= 1
        else:
            j -= 1
    path = np.array(path[::-1])
    return path[:, 0], path[:, 1]


def median_filter(x, width=7):
    """Along the last axis, reflect padding (as openai's median_filter)."""
    pad = width // 2
    if x.shape[-1] <= pad:
        return x
    xp = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(pad, pad)], mode="reflect")
    win = np.lib.stride_tricks.sliding_window_view(xp, width, axis=-1)
    return np.median(win, axis=-1)


def word_times(weights, word_token_counts):
    """weights: [heads, T rows, frames] cross-attention (rows: the no-timestamps position and
    each text position but the last one before EOT, as openai's find_alignment slices them),
    already cut to the clip's frames. Returns [(start, end)] per word in seconds."""
    w = weights.astype(np.float64)
    mean = w.mean(axis=-2, keepdims=True)
    std = w.std(axis=-2, keepdims=True) + 1e-10
    w = median_filter((w - mean) / std, 7)
    matrix = w.mean(axis=0)
    ti, tj = dtw(-matrix)
    jumps = np.pad(np.diff(ti), (1, 0), constant_values=1).astype(bool)
    jump_times = tj[jumps] / TOKENS_PER_SECOND
    bounds = np.concatenate([[0], np.cumsum(word_token_counts)])
    out = []
    for k in range(len(word_token_counts)):
        a = bounds[k]
        b = bounds[k + 1]
        s = jump_times[min(a, len(jump_times) - 1)]
        e = jump_times[min(b, len(jump_times) - 1)]
        out.append((float(s), float(e)))
    return out


def score_heads(clips, n_layers, n_heads):
    """clips: [{"attn": [layers, heads, T, frames], "word_counts": [...], "words": [(s, e)]}].
    Returns err[layer, head] = mean |start error| + |end error| / 2 over all words (seconds)."""
    err = np.zeros((n_layers, n_heads))
    cnt = 0
    for c in clips:
        truth = np.array(c["words"])
        for l in range(n_layers):
            for h in range(n_heads):
                pred = np.array(word_times(c["attn"][l, h][None], c["word_counts"]))
                err[l, h] += np.abs(pred[:, 0] - truth[:, 0]).sum() + 0.5 * np.abs(pred[:, 1] - truth[:, 1]).sum()
        cnt += len(truth)
    return err / max(cnt, 1)


def evaluate_heads(clips, heads, tol=0.1):
    """Word-start/end errors with the chosen heads combined: mean abs error and the share of
    word starts within `tol` s."""
    starts, ends = [], []
    for c in clips:
        sel = np.stack([c["attn"][l, h] for l, h in heads])
        pred = np.array(word_times(sel, c["word_counts"]))
        truth = np.array(c["words"])
        starts += list(np.abs(pred[:, 0] - truth[:, 0]))
        ends += list(np.abs(pred[:, 1] - truth[:, 1]))
    starts, ends = np.array(starts), np.array(ends)
    return {"words": int(len(starts)), "mean_abs_start_s": float(starts.mean()) if len(starts) else None,
            "mean_abs_end_s": float(ends.mean()) if len(ends) else None,
            f"start_within_{tol}s": float((starts <= tol).mean()) if len(starts) else None,
            f"end_within_{tol}s": float((ends <= tol).mean()) if len(ends) else None}


def choose(err, k=4, max_err=None):
    """The k heads with the smallest error (optionally only those under max_err)."""
    flat = [(float(err[l, h]), l, h) for l in range(err.shape[0]) for h in range(err.shape[1])]
    flat.sort()
    sel = [(l, h) for e, l, h in flat if max_err is None or e <= max_err][:k]
    if not sel:
        sel = [(flat[0][1], flat[0][2])]
    return sorted(sel)
