// A database read record by record, as Caffe's db::Cursor reads its LMDB: every record of one
// shape (C, H, W) of uint8 pixels and a label, read sequentially from the first record and
// wrapping around at the end. Unlike the in-memory Dataset, only what the reader has fetched
// ahead is in memory (the Python driver's LMDB reader keeps a few batches in a prefetch
// thread: python/augdrop_caffe/data/lmdb_stream.py), so a database of any size can be read.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace augdrop {

class RecordStream {
 public:
  virtual ~RecordStream() = default;
  virtual int64_t num() const = 0;                   // records in the database
  virtual std::array<int64_t, 3> shape() const = 0;  // (C, H, W)
  // The next `count` records, wrapping around: images (count, C, H, W), labels (count,).
  virtual void Read(int64_t count, uint8_t* images, float* labels) = 0;
  // The next Read starts at record `position` (resuming from a snapshot).
  virtual void Seek(int64_t position) = 0;
};

// Opens a new stream (its own cursor) over a source, for a layer reading `batch_size`
// records per forward pass.
using RecordStreamFactory = std::function<std::unique_ptr<RecordStream>(int64_t batch_size)>;

void RegisterStream(const std::string& key, RecordStreamFactory factory);
bool HasStream(const std::string& key);
std::unique_ptr<RecordStream> OpenStream(const std::string& key, int64_t batch_size);

}  // namespace augdrop
