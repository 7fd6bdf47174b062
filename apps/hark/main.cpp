#include <cstdio>
int main() { std::puts("hark: under construction"); return 0; }
