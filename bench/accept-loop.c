/*
 * The ceiling for EPMD lookups on this machine: a server that does the least a TCP
 * request-reply-close server can do. Accept, read the request once, write a fixed reply, close.
 * It reads before closing because closing with unread data sends a reset, which can destroy
 * the reply before the client reads it; TCP_DEFER_ACCEPT makes accept return only once the
 * request is there, so that read never waits and one thread serves every client in turn.
 *   accept-loop PORT REPLY_HEX
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 3) return 2;
  unsigned char reply[256];
  size_t n = strlen(argv[2]) / 2;
  if (n > sizeof reply) return 2;
  for (size_t i = 0; i < n; i++) sscanf(argv[2] + 2 * i, "%2hhx", &reply[i]);
  int s = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(s, IPPROTO_TCP, TCP_DEFER_ACCEPT, &one, sizeof one);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(s, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(s, 1024) != 0) return perror("listen"), 1;
  printf("ready\n");
  fflush(stdout);
  for (;;) {
    int c = accept(s, NULL, NULL);
    if (c < 0) continue;
    char request[256];
    if (read(c, request, sizeof request) > 0) (void)!write(c, reply, n);
    close(c);
  }
}
