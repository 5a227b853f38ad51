#include "embed/embedder_factory.h"

#include "embed/fasttext_embedder.h"
#include "embed/hashing_embedder.h"
#include "embed/remote_embedder.h"

namespace vecstream {

Result<std::unique_ptr<Embedder>> make_embedder(const EmbedderSpec& spec) {
  auto check_dim = [&](std::unique_ptr<Embedder> e) -> Result<std::unique_ptr<Embedder>> {
    if (spec.dim != 0 && spec.dim != e->dimension()) {
      return Status::invalid_argument("embedder.dim is " + std::to_string(spec.dim) + " but " +
                                      e->name() + " makes " + std::to_string(e->dimension()) +
                                      "-d vectors");
    }
    return e;
  };
  if (spec.kind == "hashing") {
    if (!spec.model.empty()) return Status::invalid_argument("embedder.model is for kind fasttext");
    HashingEmbedder::Options o;
    if (spec.dim != 0) o.dim = spec.dim;
    if (spec.seed != 0) o.seed = spec.seed;
    auto e = HashingEmbedder::create(o);
    if (!e.is_ok()) return e.status();
    return std::unique_ptr<Embedder>(std::move(*e));
  }
  if (spec.kind == "fasttext") {
    if (spec.model.empty()) return Status::invalid_argument("embedder.model: kind fasttext needs a model file");
    FastTextEmbedder::Options o;
    o.model_path = spec.model;
    o.lowercase = spec.lowercase;
    auto e = FastTextEmbedder::load(o);
    if (!e.is_ok()) return e.status();
    return check_dim(std::move(*e));
  }
  if (spec.kind == "remote") {
    if (spec.address.empty()) return Status::invalid_argument("embedder.address: kind remote needs host:port");
    RemoteEmbedder::Options o;
    o.target = spec.address;
    o.dim = spec.dim;
    o.timeout = std::chrono::milliseconds(spec.timeout_ms);
    o.attempt_timeout = std::min(o.attempt_timeout, o.timeout);
    auto e = RemoteEmbedder::create(o);
    if (!e.is_ok()) return e.status();
    return std::unique_ptr<Embedder>(std::move(*e));
  }
  return Status::invalid_argument("embedder.kind: unknown '" + spec.kind +
                                  "' (hashing, fasttext or remote)");
}

}  // namespace vecstream
