#include <stdio.h>
#include <string.h>
int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--version") == 0) { printf("hello " VERSION "\n"); return 0; }
  printf("hello, world\n");
  return 0;
}
