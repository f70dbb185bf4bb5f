// The smallest program: write(2) and exit with a status.
#include <unistd.h>
#include <sys/syscall.h>
int main(){ write(1,"hello\n",6); return 7; }
