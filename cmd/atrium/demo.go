package main

import (
	"context"
	"fmt"
	"os"

	"atrium/demo"
)

func runDemo(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "wan" {
		return runDemoWAN(ctx, args[1:])
	}
	fs := newFlagSet("demo", "", "Run a whole region on this machine: three central nodes and an edge per lycée, as separate processes,\nwith synthetic data. Ctrl-C stops every process. 'atrium demo wan cut|restore UAI --dir DIR' cuts or restores a lycée's link.")
	dir := fs.String("dir", "", "state directory (default: a fresh temporary directory, printed at start)")
	seed := fs.Int64("seed", 1, "synthetic data seed")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("unexpected argument %q (did you mean 'atrium demo wan'?)", fs.Arg(0))
	}
	return demo.Run(ctx, demo.Config{Dir: *dir, Seed: *seed})
}

func runDemoWAN(ctx context.Context, args []string) error {
	const wanUsage = "Usage: atrium demo wan cut|restore UAI --dir DIR\n\nCut or restore the WAN link of a lycée's edge in a running demo."
	if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		fmt.Println(wanUsage)
		return nil
	}
	if len(args) == 0 || (args[0] != "cut" && args[0] != "restore") {
		fmt.Fprintln(os.Stderr, wanUsage)
		if len(args) == 0 {
			return fmt.Errorf("demo wan: missing cut or restore")
		}
		return fmt.Errorf("demo wan: unknown action %q (cut or restore)", args[0])
	}
	action := args[0]
	fs := newFlagSet("demo wan "+action, "UAI", "Cut or restore the WAN link of a lycée's edge in a running demo.")
	dir := fs.String("dir", "", "the running demo's state directory (required)")
	// Accept the UAI before or after the flags.
	rest := args[1:]
	var uai string
	if len(rest) > 0 && rest[0] != "" && rest[0][0] != '-' {
		uai, rest = rest[0], rest[1:]
	}
	if err := parseFlags(fs, rest); err != nil {
		return err
	}
	if uai == "" && fs.NArg() > 0 {
		uai = fs.Arg(0)
	}
	if uai == "" || *dir == "" {
		fs.Usage()
		return fmt.Errorf("a UAI and --dir are required")
	}
	if err := demo.SetWAN(ctx, *dir, uai, action == "cut"); err != nil {
		return err
	}
	fmt.Printf("WAN link of %s: %s\n", uai, map[string]string{"cut": "cut", "restore": "restored"}[action])
	return nil
}
