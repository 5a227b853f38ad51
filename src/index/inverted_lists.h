// InvertedLists<T>: the storage of an IVF index: per list, the ids and the codes of its points
// (row-major, `width` elements of T per point), plus an id -> (list, position) map.
//
// Why: every IVF flavour (raw floats, 8-bit scalar codes, PQ codes) needs the same bookkeeping:
// upsert moves a point between lists, remove is O(1) by swapping the list's last point into the
// hole (lists stay dense so a scan touches only live points), and the file layout of the lists is
// the same. Only the code type and the scan differ, and the scan lives in the index.
//
// Not synchronised: the owning index guards it (IVF indexes use one reader-writer lock).
//
// File layout written by save() (after the index's own header):
//   u64 nlist | u64 width | per list: u64 count | count x u64 id | count*width x T
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "index/index.h"
#include "index/index_file.h"

namespace vecstream {

template <typename T>
class InvertedLists {
 public:
  struct Location {
    uint32_t list;
    uint32_t pos;
  };

  InvertedLists() = default;
  InvertedLists(size_t nlist, size_t width) : width_(width), lists_(nlist) {}

  size_t nlist() const { return lists_.size(); }
  size_t width() const { return width_; }
  /// Live points over all lists.
  size_t size() const { return where_.size(); }
  bool contains(Id id) const { return where_.count(id) != 0; }
  const Location* find(Id id) const {
    auto it = where_.find(id);
    return it == where_.end() ? nullptr : &it->second;
  }

  size_t list_size(size_t l) const { return lists_[l].ids.size(); }
  const Id* ids(size_t l) const { return lists_[l].ids.data(); }
  const T* codes(size_t l) const { return lists_[l].codes.data(); }
  const T* code(Location loc) const {
    return lists_[loc.list].codes.data() + static_cast<size_t>(loc.pos) * width_;
  }
  size_t max_list_size() const {
    size_t m = 0;
    for (const List& l : lists_) m = std::max(m, l.ids.size());
    return m;
  }

  /// Inserts `id` into `list` with `code` (width elements), or replaces it: in place when it is
  /// already in that list, else removed from its old list first. Returns its location.
  Location upsert(Id id, uint32_t list, const T* code) {
    auto it = where_.find(id);
    if (it != where_.end()) {
      if (it->second.list == list) {
        std::memcpy(mutable_code(it->second), code, width_ * sizeof(T));
        return it->second;
      }
      erase_at(it->second);
      it->second = append(id, list, code);
      return it->second;
    }
    Location loc = append(id, list, code);
    where_.emplace(id, loc);
    return loc;
  }

  /// Removes `id`; false if absent. O(1): the list's last point moves into the hole.
  bool remove(Id id) {
    auto it = where_.find(id);
    if (it == where_.end()) return false;
    erase_at(it->second);
    where_.erase(it);
    return true;
  }

  void reserve_ids(size_t n) { where_.reserve(n); }

  size_t memory_bytes() const {
    size_t b = lists_.capacity() * sizeof(List);
    for (const List& l : lists_) b += l.ids.capacity() * sizeof(Id) + l.codes.capacity() * sizeof(T);
    // unordered_map node: key, value, next pointer, cached hash; plus one bucket pointer.
    b += where_.size() * (sizeof(Id) + sizeof(Location) + 2 * sizeof(void*)) +
         where_.bucket_count() * sizeof(void*);
    return b;
  }

  void save(IndexFileWriter& w) const {
    w.put<uint64_t>(lists_.size());
    w.put<uint64_t>(width_);
    for (const List& l : lists_) {
      w.put<uint64_t>(l.ids.size());
      w.write(l.ids.data(), l.ids.size() * sizeof(Id));
      w.write(l.codes.data(), l.codes.size() * sizeof(T));
    }
  }

  /// Reads what save() wrote, expecting `nlist` lists of `width`-element codes. CORRUPTION on a
  /// count mismatch, a truncated list or a duplicate id. `valid` (optional) vets each code.
  template <typename Valid>
  Status load(IndexFileReader& r, size_t nlist, size_t width, Valid&& valid) {
    uint64_t stored_nlist = 0, stored_width = 0;
    VS_RETURN_IF_ERROR(r.get(&stored_nlist));
    VS_RETURN_IF_ERROR(r.get(&stored_width));
    if (stored_nlist != nlist || stored_width != width) return r.truncated("inverted list shape");
    width_ = width;
    lists_.assign(nlist, List{});
    where_.clear();
    for (size_t l = 0; l < nlist; ++l) {
      uint64_t count = 0;
      VS_RETURN_IF_ERROR(r.get(&count));
      const size_t per_point = sizeof(Id) + width * sizeof(T);
      if (count > UINT32_MAX || count > r.remaining() / per_point) return r.truncated("inverted list");
      List& list = lists_[l];
      list.ids.resize(count);
      list.codes.resize(count * width);
      VS_RETURN_IF_ERROR(r.read(list.ids.data(), count * sizeof(Id)));
      VS_RETURN_IF_ERROR(r.read(list.codes.data(), count * width * sizeof(T)));
      for (size_t i = 0; i < count; ++i) {
        if (!valid(list.codes.data() + i * width)) return r.truncated("inverted list code");
        Location loc{static_cast<uint32_t>(l), static_cast<uint32_t>(i)};
        if (!where_.emplace(list.ids[i], loc).second) return r.truncated("inverted list (duplicate id)");
      }
    }
    return Status::ok();
  }

 private:
  struct List {
    std::vector<Id> ids;
    std::vector<T> codes;
  };

  T* mutable_code(Location loc) {
    return lists_[loc.list].codes.data() + static_cast<size_t>(loc.pos) * width_;
  }

  Location append(Id id, uint32_t list, const T* code) {
    List& l = lists_[list];
    Location loc{list, static_cast<uint32_t>(l.ids.size())};
    l.ids.push_back(id);
    l.codes.insert(l.codes.end(), code, code + width_);
    return loc;
  }

  // Fills the hole at `loc` with the list's last point; the caller fixes the map entry of the
  // removed id itself.
  void erase_at(Location loc) {
    List& l = lists_[loc.list];
    const size_t last = l.ids.size() - 1;
    if (loc.pos != last) {
      l.ids[loc.pos] = l.ids[last];
      std::memcpy(l.codes.data() + static_cast<size_t>(loc.pos) * width_,
                  l.codes.data() + last * width_, width_ * sizeof(T));
      where_[l.ids[loc.pos]] = loc;
    }
    l.ids.pop_back();
    l.codes.resize(last * width_);
  }

  size_t width_ = 0;
  std::vector<List> lists_;
  std::unordered_map<Id, Location> where_;
};

}  // namespace vecstream
