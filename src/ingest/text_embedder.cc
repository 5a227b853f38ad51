#include "ingest/text_embedder.h"

#include <string_view>

namespace vecstream {

TextEmbedder make_text_embedder(Embedder* embedder) {
  if (embedder == nullptr) return nullptr;
  return [embedder](const std::vector<std::string>& texts) -> Result<std::vector<std::vector<float>>> {
    const size_t dim = embedder->dimension();
    std::vector<std::string_view> views(texts.begin(), texts.end());
    std::vector<float> flat(texts.size() * dim);
    VS_RETURN_IF_ERROR(embedder->embed(views, flat));
    std::vector<std::vector<float>> out(texts.size());
    for (size_t i = 0; i < texts.size(); ++i) {
      out[i].assign(flat.begin() + static_cast<std::ptrdiff_t>(i * dim),
                    flat.begin() + static_cast<std::ptrdiff_t>((i + 1) * dim));
    }
    return out;
  };
}

}  // namespace vecstream
