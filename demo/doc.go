// Package demo runs a whole region on one machine, for `atrium demo`: three
// central nodes and one edge per synthetic lycée, each a separate atrium
// process, with the synthetic region loaded, and a WAN fault proxy in
// front of every edge's link to central so that offline mode can be shown
// (`atrium demo wan cut UAI`).
//
// The demo's state lives in one directory: each node's data and log, and
// demo.json, which lists the nodes, their URLs and the demo accounts. A
// demo started again on the same directory restarts the same region.
package demo
