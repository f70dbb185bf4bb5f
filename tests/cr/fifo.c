/* A FIFO across a checkpoint: /tmp/cr.fifo opened for reading (non-blocking) and writing,
 * with bytes in it; afterwards the bytes read back, the node is still a FIFO, and a new
 * open of its path joins the same pipe. */
#include "cr.h"
#include <fcntl.h>
#include <sys/stat.h>

int main(void) {
	start("fifo");
	if (mkfifo("/tmp/cr.fifo", 0640))
		die("mkfifo");
	int r = open("/tmp/cr.fifo", O_RDONLY | O_NONBLOCK);
	int w = open("/tmp/cr.fifo", O_WRONLY);
	if (r < 0 || w < 0)
		die("open");
	if (write(w, "through the fifo", 16) != 16)
		die("write");
	ready();
	wait_term();

	char buf[64] = {0};
	check(read(r, buf, sizeof buf) == 16 && memcmp(buf, "through the fifo", 16) == 0, "bytes: %s", buf);
	struct stat st;
	check(stat("/tmp/cr.fifo", &st) == 0 && S_ISFIFO(st.st_mode) && (st.st_mode & 0777) == 0640,
	      "the node: mode %o", st.st_mode);
	int w2 = open("/tmp/cr.fifo", O_WRONLY | O_NONBLOCK);
	check(w2 >= 0, "open for writing again: %s", strerror(errno));
	if (w2 >= 0) {
		check(write(w2, "again", 5) == 5, "write through the new open");
		memset(buf, 0, sizeof buf);
		check(read(r, buf, sizeof buf) == 5 && memcmp(buf, "again", 5) == 0, "the new open reaches another pipe: %s", buf);
	}
	close(w);
	if (w2 >= 0)
		close(w2);
	check(read(r, buf, sizeof buf) == 0, "no EOF when every writer is closed");
	return finish();
}
