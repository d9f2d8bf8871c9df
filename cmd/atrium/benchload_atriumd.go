package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/atriumhq/atrium/core/localpg"
)

// benchOperator is the platform operator of an atriumd the load tool starts.
const benchOperator = "operator@bench-load.test"

// atriumd is an atriumd the load tool started on a scratch database.
type atriumd struct {
	cmd      *exec.Cmd
	url      string
	password string
	adminURL string // the server holding the scratch database
	dbURL    string
	data     string // ATRIUM_DATA_DIR
	log      *bytes.Buffer
	exited   chan struct{} // closed when the process has ended
	waitErr  error         // how it ended, once exited is closed
}

// startAtriumd starts bin/atriumd (its plugins in bin/plugins) on a fresh
// database on the server at adminURL and waits until it is ready.
func startAtriumd(ctx context.Context, bin, adminURL string) (*atriumd, error) {
	exe := filepath.Join(bin, "atriumd")
	if _, err := os.Stat(exe); err != nil {
		return nil, fmt.Errorf("no atriumd in %s (make build): %w", bin, err)
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	data, err := os.MkdirTemp("", "atrium-bench-load-")
	if err != nil {
		return nil, err
	}
	dbURL, err := localpg.ScratchDatabase(ctx, adminURL, "atrium_bench_")
	if err != nil {
		return nil, errors.Join(err, os.RemoveAll(data))
	}
	d := &atriumd{
		url: "http://" + addr, password: "bench-" + rand.Text(), adminURL: adminURL, dbURL: dbURL,
		data: data, log: &bytes.Buffer{}, exited: make(chan struct{}),
	}
	d.cmd = exec.Command(exe)
	d.cmd.Env = append(os.Environ(),
		"DATABASE_URL="+dbURL,
		"ATRIUM_HTTP_ADDR="+addr,
		"ATRIUM_PLUGIN_DIR="+filepath.Join(bin, "plugins"),
		"ATRIUM_DATA_DIR="+data,
		"ATRIUM_BLOB_URL=file://"+filepath.Join(data, "blobs"),
		"ATRIUM_BOOTSTRAP_OPERATOR_EMAIL="+benchOperator,
		"ATRIUM_BOOTSTRAP_OPERATOR_PASSWORD="+d.password,
		"ATRIUM_ACCESS_TOKEN_TTL=2h", // tokens are taken once, before every round
		"ATRIUM_LOG_LEVEL=warn",      // a line per request would load the machine
	)
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log // read only once it has exited
	if err := d.cmd.Start(); err != nil {
		close(d.exited)
		return nil, errors.Join(err, d.stop())
	}
	go func() {
		d.waitErr = d.cmd.Wait()
		close(d.exited)
	}()
	if err := d.waitReady(ctx); err != nil {
		return nil, errors.Join(err, d.stop())
	}
	return d, nil
}

// waitReady polls /readyz until it answers 200, atriumd exits, or two
// minutes pass (migrations and the plugin's start).
func (d *atriumd) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-d.exited:
			return fmt.Errorf("atriumd exited: %w\n%s", d.waitErr, d.log)
		case <-ctx.Done():
			return fmt.Errorf("atriumd not ready at %s: %w", d.url, ctx.Err())
		case <-tick.C:
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.url+"/readyz", nil)
			if err != nil {
				return err
			}
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return nil
				}
			}
		}
	}
}

// stop ends atriumd (SIGTERM: it drains and stops its plugins; killed if it
// takes more than 30 s) and removes its database and data directory.
func (d *atriumd) stop() error {
	if d.cmd.Process != nil {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.exited:
		case <-time.After(30 * time.Second):
			_ = d.cmd.Process.Kill()
			<-d.exited
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return errors.Join(localpg.DropScratchDatabase(ctx, d.adminURL, d.dbURL), os.RemoveAll(d.data))
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
