// TextEmbedder: the hook through which ingestion turns an event's "text" into its vector when the
// event carries no vector — the embedding stage (a built-in embedder, fastText, or a remote
// EmbeddingService) plugs in here without the ingest layer knowing which.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/status.h"
#include "embed/embedder.h"

namespace vecstream {

/// Embeds a batch of texts: one vector per text, in order. Called from the source's apply
/// threads, possibly concurrently, so it must be thread-safe. INVALID_ARGUMENT means the texts
/// themselves are refused (their events go to the dead-letter topic with the message); any other
/// error is taken as transient (the batch is retried later, its partition paused meanwhile).
using TextEmbedder =
    std::function<Result<std::vector<std::vector<float>>>(const std::vector<std::string>& texts)>;

/// The hook for an Embedder (embed/embedder.h; thread-safe by its contract), which must outlive
/// the hook; null for a null embedder. All or nothing, as Embedder::embed: the source embeds a
/// refused batch's texts one by one to find the bad ones.
TextEmbedder make_text_embedder(Embedder* embedder);

}  // namespace vecstream
