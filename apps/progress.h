// A progress bar for one epoch of training:
//   epoch 1/3 [=========>          ] 234/469  00:21<00:21  loss 0.1523  acc 95.2%  2843 img/s
// On a terminal it redraws one line in place (\r, at most 10 times a second); otherwise (a log
// file, a pipe) it prints a plain line at every tenth of the epoch and at its end.
#pragma once
#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>

namespace norma::apps {

class ProgressBar {
 public:
  // `title` e.g. "epoch 1/3"; `total` steps in the epoch; `first` steps already done (resume).
  ProgressBar(std::ostream& out, bool tty, std::string title, int64_t total, int64_t first = 0);
  // After each step: steps done so far in the epoch, the epoch's running loss and accuracy,
  // and images processed since the bar began.
  void update(int64_t done, double loss, double accuracy, int64_t images);
  // Prints a line of its own (an evaluation's result) above the bar.
  void message(const std::string& text);
  // Draws the final state and ends the line.
  void finish();

  // "mm:ss", or "h:mm:ss" from an hour on.
  static std::string clock(double seconds);

 private:
  std::string line() const;
  void draw(bool final);

  std::ostream& out_;
  bool tty_;
  std::string title_;
  int64_t total_, first_, done_ = 0, images_ = 0;
  double loss_ = 0, accuracy_ = 0;
  std::chrono::steady_clock::time_point start_, last_draw_;
  int64_t next_line_ = 0;  // non-terminal output: the step of the next plain line
  bool finished_ = false;
};

}  // namespace norma::apps
