#include "apps/progress.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace norma::apps {

ProgressBar::ProgressBar(std::ostream& out, bool tty, std::string title, int64_t total, int64_t first)
    : out_(out), tty_(tty), title_(std::move(title)), total_(total), first_(first), done_(first) {
  start_ = last_draw_ = std::chrono::steady_clock::now();
  next_line_ = first_ + std::max<int64_t>(1, (total_ - first_) / 10);
}

std::string ProgressBar::clock(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  const int64_t s = int64_t(seconds + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", (long long)(s / 3600), (long long)(s / 60 % 60), (long long)(s % 60));
  else
    std::snprintf(buf, sizeof buf, "%02lld:%02lld", (long long)(s / 60), (long long)(s % 60));
  return buf;
}

std::string ProgressBar::line() const {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const int64_t steps = done_ - first_;
  // ETA from this bar's own pace (a resumed epoch's skipped steps took no time here).
  const double eta = steps > 0 ? elapsed / double(steps) * double(total_ - done_) : NAN;
  const double rate = elapsed > 0 ? double(images_) / elapsed : 0.0;
  const int width = 20;
  const int filled = total_ > 0 ? int(double(width) * double(done_) / double(total_)) : width;
  std::string bar(size_t(width), ' ');
  for (int i = 0; i < filled; ++i) bar[size_t(i)] = '=';
  if (filled < width && done_ > 0) bar[size_t(filled)] = '>';
  const int digits = int(std::to_string(total_).size());
  char buf[256];
  std::snprintf(buf, sizeof buf, "%s [%s] %*lld/%lld  %s<%s  loss %.4f  acc %5.1f%%  %.0f img/s", title_.c_str(),
                bar.c_str(), digits, (long long)done_, (long long)total_, clock(elapsed).c_str(), clock(eta).c_str(),
                loss_, 100.0 * accuracy_, rate);
  return buf;
}

void ProgressBar::draw(bool final) {
  if (tty_) {
    out_ << "\r" << line() << "\033[K";  // clear what a longer previous line left
    if (final) out_ << "\n";
  } else {
    out_ << line() << "\n";
  }
  out_.flush();
  last_draw_ = std::chrono::steady_clock::now();
}

void ProgressBar::update(int64_t done, double loss, double accuracy, int64_t images) {
  done_ = done, loss_ = loss, accuracy_ = accuracy, images_ = images;
  if (done_ >= total_) return;  // finish() draws the last state
  if (tty_) {
    if (std::chrono::steady_clock::now() - last_draw_ >= std::chrono::milliseconds(100)) draw(false);
  } else if (done_ >= next_line_) {
    draw(false);
    next_line_ = done_ + std::max<int64_t>(1, (total_ - first_) / 10);
  }
}

void ProgressBar::message(const std::string& text) {
  if (tty_) {
    out_ << "\r\033[K" << text << "\n";
    draw(false);
  } else {
    out_ << text << "\n";
    out_.flush();
  }
}

void ProgressBar::finish() {
  if (finished_) return;
  finished_ = true;
  draw(true);
}

}  // namespace norma::apps
