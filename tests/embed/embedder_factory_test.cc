// make_embedder: each kind from its spec, and every bad spec as a clear error naming the field.
#include "embed/embedder_factory.h"

#include <gtest/gtest.h>

namespace vecstream {
namespace {

TEST(EmbedderFactoryTest, Hashing) {
  EmbedderSpec s;
  s.dim = 32;
  s.seed = 9;
  auto e = make_embedder(s);
  ASSERT_TRUE(e.is_ok()) << e.status().to_string();
  EXPECT_EQ((*e)->dimension(), 32u);
  auto v = (*e)->embed_one("hello world");
  ASSERT_TRUE(v.is_ok());
  EXPECT_EQ(v->size(), 32u);
  EXPECT_EQ((*make_embedder(EmbedderSpec{}))->dimension(), 256u);  // the default
}

TEST(EmbedderFactoryTest, BadSpecs) {
  struct Case {
    EmbedderSpec spec;
    const char* needle;
  };
  auto spec = [](std::string kind, std::string model = "", std::string address = "") {
    EmbedderSpec s;
    s.kind = std::move(kind);
    s.model = std::move(model);
    s.address = std::move(address);
    return s;
  };
  const Case cases[] = {
      {spec("bert"), "embedder.kind"},
      {spec("hashing", "/m.bin"), "embedder.model"},
      {spec("fasttext"), "embedder.model"},
      {spec("remote"), "embedder.address"},
  };
  for (const Case& c : cases) {
    auto e = make_embedder(c.spec);
    ASSERT_FALSE(e.is_ok()) << c.spec.kind;
    EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(e.status().message().find(c.needle), std::string::npos) << e.status().to_string();
  }
  auto missing = make_embedder(spec("fasttext", "/nonexistent/model.bin"));
  ASSERT_FALSE(missing.is_ok());
  EXPECT_NE(missing.status().message().find("/nonexistent/model.bin"), std::string::npos)
      << missing.status().to_string();
}

}  // namespace
}  // namespace vecstream
