// Package ports picks loopback ports for nodes that must know their
// addresses before they listen: raft and serf advertise theirs to their
// peers and find them again after a restart, so they cannot listen on :0.
//
// Ports come from below Linux's ephemeral range (32768-60999 by default),
// which the kernel never hands out for ":0" listeners or outgoing
// connections: a port picked here cannot be taken meanwhile by another
// test's client socket. Nor by another process picking in the same way:
// each port handed out is claimed with a lock on a file named after it
// (os.TempDir()/atrium-ports), held until the process exits, so that a
// port free for a while (a node killed and restarted on it) stays this
// process's. Each port is free on TCP and UDP alike
// (serf uses both) when it is returned, and never returned twice by one
// process. Safe for concurrent use.
package ports
