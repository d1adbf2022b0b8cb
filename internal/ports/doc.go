// Package ports picks loopback ports for nodes that must know their
// addresses before they listen: raft and serf advertise theirs to their
// peers and find them again after a restart, so they cannot listen on :0.
//
// Ports come from below Linux's ephemeral range (32768-60999 by default),
// which the kernel never hands out for ":0" listeners or outgoing
// connections: a port picked here cannot be taken meanwhile by another
// test's client socket, only by another process picking in the same way,
// which random picks make unlikely. Each port is free on TCP and UDP alike
// (serf uses both) when it is returned, and never returned twice by one
// process. Safe for concurrent use.
package ports
