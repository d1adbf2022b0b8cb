package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// serveControl serves the running demo's WAN control on loopback:
// POST /wan/cut/{uai} and POST /wan/restore/{uai}.
func (d *region) serveControl(ctx context.Context) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /wan/{action}/{uai}", func(w http.ResponseWriter, r *http.Request) {
		uai, action := r.PathValue("uai"), r.PathValue("action")
		proxies, ok := d.proxies[uai]
		if !ok {
			http.Error(w, fmt.Sprintf("no edge for lycée %s in this demo", uai), http.StatusNotFound)
			return
		}
		switch action {
		case "cut":
			for _, p := range proxies {
				p.Cut()
			}
		case "restore":
			for _, p := range proxies {
				p.Restore()
			}
		default:
			http.Error(w, "action is cut or restore", http.StatusBadRequest)
			return
		}
		fmt.Fprintf(d.out, "  WAN link of %s: %s\n", uai, map[string]string{"cut": "cut", "restore": "restored"}[action])
		fmt.Fprintf(w, "WAN link of %s: %s\n", uai, action)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	d.wg.Add(1)
	go func() { defer d.wg.Done(); srv.Serve(ln) }()
	d.cancel = append(d.cancel, func() { srv.Close() })
	return "http://" + ln.Addr().String(), nil
}

// SetWAN cuts (cut=true) or restores the WAN link of lycée uai in the demo
// running in dir.
func SetWAN(ctx context.Context, dir, uai string, cut bool) error {
	b, err := os.ReadFile(filepath.Join(dir, "demo.json"))
	if err != nil {
		return fmt.Errorf("no running demo in %s: %w", dir, err)
	}
	var f File
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("read %s: %w", filepath.Join(dir, "demo.json"), err)
	}
	if f.Control == "" {
		return errors.New("demo.json names no control address")
	}
	action := "restore"
	if cut {
		action = "cut"
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, f.Control+"/wan/"+action+"/"+uai, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("reach the demo (is it still running?): %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return errors.New(strings.TrimSpace(string(body)))
	}
	return nil
}
