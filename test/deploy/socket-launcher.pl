#!/usr/bin/perl
# A stand-in for systemd socket activation (a .socket unit with Accept=no) in tests: it holds one
# listening TCP socket and never accepts on it; each "start" line on standard input stops the
# command it started last (SIGTERM, then waits) and starts it again with the socket as descriptor
# 3, LISTEN_FDS=1 and LISTEN_PID set, as systemd does on `systemctl restart`. Connections that
# arrive in between wait in the kernel's queue.
#   perl socket-launcher.pl ADDR PORT COMMAND ARGS...   (stdin: "start" lines; EOF stops all)
use strict;
use warnings;
use IO::Socket::INET;
use POSIX qw(dup2 _exit);
use Fcntl qw(F_SETFD);

my ($addr, $port, @command) = @ARGV;
die "usage: socket-launcher.pl ADDR PORT COMMAND ARGS...\n" unless @command;
my $listener = IO::Socket::INET->new(
  LocalAddr => $addr, LocalPort => $port, Listen => 128, ReuseAddr => 1, Proto => 'tcp',
) or die "socket-launcher: cannot listen on $addr:$port: $!\n";
$| = 1;
print "listening\n";

my $child = 0;
sub stop {
  return unless $child;
  kill 'TERM', $child;
  waitpid $child, 0;
  print "stopped $child\n";
  $child = 0;
}

while (my $line = <STDIN>) {
  chomp $line;
  next unless $line eq 'start';
  stop();
  my $pid = fork // die "socket-launcher: fork: $!\n";
  if ($pid == 0) {
    my $fd = fileno $listener;
    if ($fd == 3) { fcntl $listener, F_SETFD, 0 } else { dup2($fd, 3) // _exit(127) }
    $ENV{LISTEN_FDS} = 1;
    $ENV{LISTEN_PID} = $$;
    $ENV{LISTEN_FDNAMES} = 'epmd';
    exec @command or _exit(127);
  }
  $child = $pid;
  print "started $pid\n";
}
stop();
