package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string) error
}

func commands() []command {
	return []command{
		{"central", "run a node of the central cluster", runCentral},
		{"edge", "run a lycée's edge appliance", runEdge},
		{"demo", "run a whole region on this machine (3 central nodes, 2 edges)", runDemo},
		{"ctl", "operate the region through a central node's API", runCtl},
		{"version", "print the version", runVersion},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first signal asks for a clean stop; a second one, once the
	// default handling is back, stops the process at once.
	go func() { <-ctx.Done(); stop() }()
	err := run(ctx, os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "atrium:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		usage(os.Stderr)
		return errors.New("missing command")
	}
	if args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		if len(args) > 1 && args[0] == "help" {
			// atrium help COMMAND is atrium COMMAND --help.
			return run(ctx, []string{args[1], "--help"})
		}
		usage(os.Stdout)
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:])
		}
	}
	usage(os.Stderr)
	return fmt.Errorf("unknown command %q", args[0])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Atrium, the digital workspace of the region's lycées.\n\nUsage: atrium COMMAND [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'atrium COMMAND --help' for a command's flags.")
}

func runVersion(ctx context.Context, args []string) error {
	fs := newFlagSet("version", "", "Print the version.")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	fmt.Println("atrium", version)
	return nil
}

// newFlagSet returns a flag set whose usage is a usage line, the summary
// and the command's flags. Parse it with parseFlags.
func newFlagSet(name, argsUsage, summary string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %s\n\n%s\n\nFlags:\n", strings.TrimSpace("atrium "+name+" [flags] "+argsUsage), summary)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args with fs. The usage asked for with --help goes to
// stdout (so that it can be paged or searched); after a bad flag it goes to
// stderr, and the error is returned for main to print.
func parseFlags(fs *flag.FlagSet, args []string) error {
	return parseWith(fs, args, fs.Parse)
}

// parseCommandFlags is parseFlags for a command that takes arguments:
// flags may follow them.
func parseCommandFlags(fs *flag.FlagSet, args []string) error {
	return parseWith(fs, args, func(args []string) error { return parseInterspersed(fs, args) })
}

func parseWith(fs *flag.FlagSet, args []string, parse func([]string) error) error {
	fs.SetOutput(io.Discard)
	err := parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(os.Stdout)
		fs.Usage()
	case err != nil:
		fs.SetOutput(os.Stderr)
		fs.Usage()
		fmt.Fprintln(os.Stderr)
	}
	fs.SetOutput(os.Stderr)
	return err
}

// parseInterspersed parses flags wherever they stand among the
// arguments (`aaf import DIR --dry-run` as well as `aaf import --dry-run
// DIR`); fs.Args() is then the arguments alone, in order.
func parseInterspersed(fs *flag.FlagSet, args []string) error {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	return fs.Parse(append([]string{"--"}, pos...))
}

// envOr returns the environment variable's value, or def when unset.
func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}
