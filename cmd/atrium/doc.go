// Command atrium is Atrium's one binary:
//
//	atrium central   run a node of the central cluster
//	atrium edge      run a lycée's edge appliance
//	atrium demo      run a whole region on this machine
//	atrium ctl       operate the region through a central node's API
//	atrium version   print the version
//
// It only turns flags and environment variables into component
// configurations (package node assembles the components).
package main
