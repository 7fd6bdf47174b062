// Word-level timestamps, as openai-whisper's timing.py computes them: the decoder is run
// teacher-forced over a window's text with its cross-attention weights captured; the alignment
// heads' weights, normalised and median-filtered, give a token-by-audio-position similarity whose
// dynamic time warping places each token, and so each word, in time. A per-window post-processing
// step then bounds implausibly long words and hands the words to the window's segments.
//
// The pipeline calls, once per decoded window and only when word timestamps are asked for,
// after the window's tokens are split into segments (pipeline::split_window) and before the seek
// decision:
//   add_word_timestamps(segments, model, tokenizer, encoder_out, sot_sequence, num_frames,
//                       language, heads, last_speech_timestamp);
//   if (auto end = segments_end(segments)) last_speech_timestamp = *end;
// where encoder_out is the window's encoder output, sot_sequence is
// WindowDecoder::sot_sequence(language, task, /*timestamps=*/true) for the window's language,
// num_frames is transcribe.py's segment_size (the window's mel frames of real audio,
// min(3000, content_frames - seek)), and heads = resolve_alignment_heads(...) is computed once
// per model (decoding/alignment_heads.h). It costs one extra teacher-forced decoder pass.
// transcribe.py then seeks to the last word's end when the window did not end on a single
// timestamp; that is the pipeline's business.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "decoding/alignment_heads.h"
#include "decoding/word_timing_words.h"
#include "hark/result.h"
#include "model/whisper_model.h"
#include "text/tokenizer.h"

namespace hark::decoding {

inline constexpr int kMedianFilterWidth = 7;
inline constexpr double kTokensPerSecond = 50;  // encoder positions per second of audio

// The model-free core of find_alignment. weights: [n_heads, n_tokens, n_audio_ctx] f32, the
// alignment heads' cross-attention probabilities (softmax over all n_audio_ctx positions) for the
// n_tokens = sot_length + 1 + text_tokens.size() + 1 positions of
// sot_sequence + <|notimestamps|> + text_tokens + <|endoftext|>. text_token_probs[i]: the
// teacher-forced probability of text_tokens[i] (softmax over the ids below <|endoftext|>).
// num_frames: the window's mel frames of real audio (<= 3000); only the first num_frames / 2
// positions are used, re-normalised to sum to 1 (the softmax restricted to them, which is what
// timing.py takes over the raw scores). Then per head and position: standardised over the tokens
// (population std; a position where every token has the same weight becomes 0, where timing.py
// would give NaN), median-filtered over positions, averaged over heads; the rows of the text
// tokens and <|endoftext|> (their predicting positions) are aligned by dtw on the negated matrix.
// Returns one WordTiming per word of split_to_word_tokens(text_tokens + <|endoftext|>, language)
// except the final <|endoftext|>, with start/end in seconds from the window start (multiples of
// 0.02) and probability the mean of its tokens' probabilities. Empty when text_tokens is empty or
// num_frames < 2. Throws kInvalidArgument when shapes disagree or a text token is not below
// <|endoftext|>.
std::vector<WordTiming> align_words(const Tensor& weights, std::span<const double> text_token_probs,
                                    const text::Tokenizer& tokenizer,
                                    const std::vector<int>& text_tokens, int sot_length,
                                    int num_frames, const std::string& language,
                                    int median_filter_width = kMedianFilterWidth);

// timing.py find_alignment on one window: decodes sot_sequence + <|notimestamps|> + text_tokens +
// <|endoftext|> teacher-forced in a fresh decoder state over encoder_out ([n_audio_ctx, d]),
// capturing the cross-attention weights of `heads` and the token probabilities, then align_words.
// sot_sequence: <|startoftranscript|> [<|lang|> <|task|>] as WindowDecoder::sot_sequence gives it
// (a trailing <|notimestamps|> is dropped); no prompt. text_tokens: the window's text tokens (ids
// below <|endoftext|>). heads: (layer, head) pairs inside the decoder, at least one. Throws
// kInvalidArgument otherwise, or when the sequence exceeds n_text_ctx.
std::vector<WordTiming> find_alignment(const model::WhisperModel& model,
                                       const text::Tokenizer& tokenizer, const Tensor& encoder_out,
                                       std::vector<int> sot_sequence,
                                       const std::vector<int>& text_tokens, int num_frames,
                                       const std::string& language, const AlignmentHeads& heads,
                                       int median_filter_width = kMedianFilterWidth);

struct WordTimestampOptions {
  std::string prepend_punctuations{kDefaultPrependPunctuations};
  std::string append_punctuations{kDefaultAppendPunctuations};
  int median_filter_width = kMedianFilterWidth;
};

// The post-processing of timing.py add_word_timestamps over one window's alignment (the words of
// all its segments' text tokens, in order): words longer than twice the median word duration
// (median of the non-zero durations, at most 0.7 s) are cut at sentence-ending marks
// (".。!！?？"); punctuation is merged (merge_punctuations); words go to the segments in order,
// each taking words until it has as many tokens as its text tokens (ids below eot, the
// <|endoftext|> id; timestamps are not text),
// emptied words skipped, with times offset by the window start (segments[0].seek / 100 s) and
// rounded to 0.01 s as Python's round(x, 2). Per segment with words: a first word (or first two)
// that runs long after a pause (more than 4 median durations after last_speech_timestamp) is
// shortened; a too-long first/last word yields to the segment's own start/end timestamp, otherwise
// the segment's start/end become its first word's start and last word's end. Segments that get
// no words get an empty list. Every segment's words are replaced.
void assign_word_timestamps(std::vector<Segment>& segments, std::vector<WordTiming> alignment,
                            int eot, double last_speech_timestamp,
                            const WordTimestampOptions& options = {});

// timing.py add_word_timestamps for one window: find_alignment over the text tokens of all
// `segments` (one window's, as pipeline::split_window made them, same seek), then
// assign_word_timestamps. No-op for an empty list. last_speech_timestamp: the end of the last
// word of earlier windows (0 at the start of a file).
void add_word_timestamps(std::vector<Segment>& segments, const model::WhisperModel& model,
                         const text::Tokenizer& tokenizer, const Tensor& encoder_out,
                         const std::vector<int>& sot_sequence, int num_frames,
                         const std::string& language, const AlignmentHeads& heads,
                         double last_speech_timestamp, const WordTimestampOptions& options = {});

// transcribe.py get_end: the end of the last word of the last segment that has words, else the
// last segment's end; nullopt for no segments.
std::optional<double> segments_end(const std::vector<Segment>& segments);

}  // namespace hark::decoding
