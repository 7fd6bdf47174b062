// The alignment-head presets decoded from openai/whisper's _ALIGNMENT_HEADS, checked against
// lists published independently: HF generation_config.json (openai/whisper-tiny,
// openai/whisper-large-v3-turbo) and CTranslate2's converter table (the rest; its
// "openai/whisper-large" is large-v1). Then the choice of heads by model shape.
#include "decoding/alignment_heads.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/error.h"

namespace hark::decoding {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;

TEST(AlignmentHeadsTest, TinyMatchesHuggingFace) {
  EXPECT_THAT(alignment_heads_preset("tiny"),
              ElementsAre(Pair(2, 2), Pair(3, 0), Pair(3, 2), Pair(3, 3), Pair(3, 4), Pair(3, 5)));
}

TEST(AlignmentHeadsTest, TurboMatchesHuggingFace) {
  const AlignmentHeads turbo = {{2, 4}, {2, 11}, {3, 3}, {3, 6}, {3, 11}, {3, 14}};
  EXPECT_EQ(alignment_heads_preset("large-v3-turbo"), turbo);
  EXPECT_EQ(alignment_heads_preset("turbo"), turbo);
}

TEST(AlignmentHeadsTest, OtherModelsMatchCTranslate2) {
  EXPECT_EQ(alignment_heads_preset("tiny.en"),
            (AlignmentHeads{{1, 0}, {2, 0}, {2, 5}, {3, 0}, {3, 1}, {3, 2}, {3, 3}, {3, 4}}));
  EXPECT_EQ(alignment_heads_preset("base.en"),
            (AlignmentHeads{{3, 3}, {4, 7}, {5, 1}, {5, 5}, {5, 7}}));
  EXPECT_EQ(alignment_heads_preset("base"),
            (AlignmentHeads{{3, 1}, {4, 2}, {4, 3}, {4, 7}, {5, 1}, {5, 2}, {5, 4}, {5, 6}}));
  EXPECT_EQ(alignment_heads_preset("small.en"), (AlignmentHeads{{6, 6},
                                                                {7, 0},
                                                                {7, 3},
                                                                {7, 8},
                                                                {8, 2},
                                                                {8, 5},
                                                                {8, 7},
                                                                {9, 0},
                                                                {9, 4},
                                                                {9, 8},
                                                                {9, 10},
                                                                {10, 0},
                                                                {10, 1},
                                                                {10, 2},
                                                                {10, 3},
                                                                {10, 6},
                                                                {10, 11},
                                                                {11, 2},
                                                                {11, 4}}));
  EXPECT_EQ(alignment_heads_preset("small"),
            (AlignmentHeads{
                {5, 3}, {5, 9}, {8, 0}, {8, 4}, {8, 7}, {8, 8}, {9, 0}, {9, 7}, {9, 9}, {10, 5}}));
  EXPECT_EQ(alignment_heads_preset("medium.en"), (AlignmentHeads{{11, 4},
                                                                 {14, 1},
                                                                 {14, 12},
                                                                 {14, 14},
                                                                 {15, 4},
                                                                 {16, 0},
                                                                 {16, 4},
                                                                 {16, 9},
                                                                 {17, 12},
                                                                 {17, 14},
                                                                 {18, 7},
                                                                 {18, 10},
                                                                 {18, 15},
                                                                 {20, 0},
                                                                 {20, 3},
                                                                 {20, 9},
                                                                 {20, 14},
                                                                 {21, 12}}));
  EXPECT_EQ(alignment_heads_preset("medium"),
            (AlignmentHeads{{13, 15}, {15, 4}, {15, 15}, {16, 1}, {20, 0}, {23, 4}}));
  EXPECT_EQ(
      alignment_heads_preset("large-v1"),
      (AlignmentHeads{
          {9, 19}, {11, 2}, {11, 4}, {11, 17}, {22, 7}, {22, 11}, {22, 17}, {23, 2}, {23, 15}}));
  EXPECT_EQ(alignment_heads_preset("large-v2"),
            (AlignmentHeads{{10, 12}, {13, 17}, {16, 11}, {16, 12}, {16, 13}, {17, 15},
                            {17, 16}, {18, 4},  {18, 11}, {18, 19}, {19, 11}, {21, 2},
                            {21, 3},  {22, 3},  {22, 9},  {22, 12}, {23, 5},  {23, 7},
                            {23, 13}, {25, 5},  {26, 1},  {26, 12}, {27, 15}}));
  const AlignmentHeads v3 = {{7, 0},   {10, 17}, {12, 18}, {13, 12}, {16, 1},
                             {17, 14}, {19, 11}, {21, 4},  {24, 1},  {25, 6}};
  EXPECT_EQ(alignment_heads_preset("large-v3"), v3);
  EXPECT_EQ(alignment_heads_preset("large"), v3);
  EXPECT_TRUE(alignment_heads_preset("huge").empty());
}

model::ModelConfig shape(int d, int text_layers, int heads, int n_vocab, int n_mels = 80,
                         int audio_layers = -1) {
  model::ModelConfig c;
  c.n_vocab = n_vocab;
  c.n_mels = n_mels;
  c.n_audio_state = c.n_text_state = d;
  c.n_audio_head = c.n_text_head = heads;
  c.n_audio_layer = audio_layers < 0 ? text_layers : audio_layers;
  c.n_text_layer = text_layers;
  c.n_audio_ffn = c.n_text_ffn = 4 * d;
  return c;
}

TEST(AlignmentHeadsTest, ReleasedModelsAreRecognisedByShape) {
  EXPECT_EQ(released_model_name(shape(384, 4, 6, 51865), true), "tiny");
  EXPECT_EQ(released_model_name(shape(384, 4, 6, 51864), false), "tiny.en");
  EXPECT_EQ(released_model_name(shape(512, 6, 8, 51865), true), "base");
  EXPECT_EQ(released_model_name(shape(768, 12, 12, 51864), false), "small.en");
  EXPECT_EQ(released_model_name(shape(1024, 24, 16, 51865), true), "medium");
  EXPECT_EQ(released_model_name(shape(1280, 32, 20, 51865), true), "large-v2");
  EXPECT_EQ(released_model_name(shape(1280, 32, 20, 51866, 128), true), "large-v3");
  EXPECT_EQ(released_model_name(shape(1280, 4, 20, 51866, 128, 32), true), "large-v3-turbo");
  EXPECT_EQ(released_model_name(shape(1280, 2, 20, 51866, 128, 32), true), "");  // distil
  EXPECT_EQ(released_model_name(shape(1280, 32, 20, 51864), false), "");         // no large.en
  EXPECT_EQ(released_model_name(shape(64, 2, 2, 51865), true), "");
  EXPECT_EQ(alignment_heads_preset(shape(384, 4, 6, 51865), true), alignment_heads_preset("tiny"));
  EXPECT_EQ(alignment_heads_preset(shape(384, 4, 6, 51864), false),
            alignment_heads_preset("tiny.en"));
  EXPECT_TRUE(alignment_heads_preset(shape(64, 2, 2, 51865), true).empty());
}

TEST(AlignmentHeadsTest, DefaultIsEveryHeadOfTheLastHalf) {
  EXPECT_EQ(default_alignment_heads(shape(64, 4, 2, 51865)),
            (AlignmentHeads{{2, 0}, {2, 1}, {3, 0}, {3, 1}}));
  EXPECT_EQ(default_alignment_heads(shape(64, 3, 2, 51865)),
            (AlignmentHeads{{1, 0}, {1, 1}, {2, 0}, {2, 1}}));
}

TEST(AlignmentHeadsTest, ResolvePrefersTheCheckpointThenThePresetThenTheLastHalf) {
  const model::ModelConfig tiny = shape(384, 4, 6, 51865);
  model::GenerationConfig g = model::GenerationConfig::defaults_for_vocab(51865);
  const AlignmentHeads last_half = default_alignment_heads(tiny);
  EXPECT_EQ(resolve_alignment_heads(tiny, g, true), alignment_heads_preset("tiny"));
  EXPECT_EQ(resolve_alignment_heads(tiny, g, false), last_half);
  g.alignment_heads = {{0, 5}};
  EXPECT_EQ(resolve_alignment_heads(tiny, g, true), (AlignmentHeads{{0, 5}}));
  g.alignment_heads = {{4, 0}};
  EXPECT_THROW(resolve_alignment_heads(tiny, g, true), Error);

  const model::ModelConfig odd = shape(64, 2, 2, 51865);
  g.alignment_heads.clear();
  EXPECT_EQ(resolve_alignment_heads(odd, g, true), default_alignment_heads(odd));
}

}  // namespace
}  // namespace hark::decoding
