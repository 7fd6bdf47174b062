// Words from text tokens, and punctuation merged into its neighbouring words, as openai-whisper
// defines them (tokenizer.py split_to_word_tokens, timing.py merge_punctuations). Word strings
// are what Python's decode(errors="replace") gives: valid UTF-8, with U+FFFD for each maximal
// ill-formed byte sequence.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "text/tokenizer.h"

namespace hark::decoding {

struct WordTokens {
  std::string word;  // with its leading space, if any
  std::vector<int> tokens;
};

// One aligned word. Times are seconds from the start of the window (find_alignment), before the
// window's offset is added.
struct WordTiming {
  std::string word;
  std::vector<int> tokens;
  double start = 0;
  double end = 0;
  double probability = 0;
};

// openai-whisper's defaults for transcribe(prepend_punctuations=..., append_punctuations=...).
inline constexpr std::string_view kDefaultPrependPunctuations = "\"'\u201c\u00bf([{-";
inline constexpr std::string_view kDefaultAppendPunctuations =
    "\"'.\u3002,\uff0c!\uff01?\uff1f:\uff1a\u201d)]}\u3001";

// True for the languages written without spaces between words (zh, ja, th, lo, my, yue), whose
// words are split at every code point boundary instead.
bool splits_on_unicode(std::string_view language);

// Splits wherever the tokens so far decode to whole code points: a token whose bytes end inside a
// multi-byte character joins the next. Tokens that would only ever decode to U+FFFD (an ill-formed
// sequence in the whole text) are split off at the first token that shows it. Specials and
// timestamps decode as "<|...|>". Trailing tokens that never complete a character are dropped (as
// openai-whisper does).
std::vector<WordTokens> split_tokens_on_unicode(const text::Tokenizer& tokenizer,
                                                const std::vector<int>& tokens);

// split_tokens_on_unicode, then joins each piece to the word before it unless the piece starts
// with a special token (id >= <|endoftext|>), starts with a space, or is, without surrounding
// whitespace, a substring of Python's string.punctuation (so an all-whitespace piece also starts
// a word).
std::vector<WordTokens> split_tokens_on_spaces(const text::Tokenizer& tokenizer,
                                               const std::vector<int>& tokens);

// split_tokens_on_unicode for the languages of splits_on_unicode, else split_tokens_on_spaces.
std::vector<WordTokens> split_to_word_tokens(const text::Tokenizer& tokenizer,
                                             const std::vector<int>& tokens,
                                             std::string_view language);

// timing.py merge_punctuations, in place. First, from the end backwards: a word that starts with
// a space and whose stripped text is a substring of `prepended` moves (text and tokens) onto the
// front of the next non-emptied word. Then, from the start forwards: a word that is a substring
// of `appended` moves onto the end of the previous non-emptied word, unless that word ends with a
// space. Emptied entries stay in place with no text and no tokens; times are not changed. As in
// Python, "substring" includes the empty string.
void merge_punctuations(std::vector<WordTiming>& alignment, std::string_view prepended,
                        std::string_view appended);

}  // namespace hark::decoding
