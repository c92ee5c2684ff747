// A user's program built against an installed tapegrad.
#include <tapegrad/tapegrad.h>

#include <iostream>

int main() {
  tg::Tensor t = tg::arange(0, 5, 1);  // 0 1 2 3 4
  std::cout << "sum=" << tg::sum(t).item<double>() << "\n";
  return 0;
}
