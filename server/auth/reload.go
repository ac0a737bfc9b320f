package auth

import (
	"os"
	"slices"
	"syscall"
	"time"
)

// Key rotation: the key files are re-read when they change (polled: a stat
// per file per Poll, which also sees an atomic rename or a Kubernetes
// ConfigMap's symlink swap, where a file watch would lose track) and on
// Reload (chatd calls it on SIGHUP). A reload that fails keeps the keys in
// use, so a half-written file never locks users out.

// fileStamp is what tells that a file changed.
type fileStamp struct {
	size  int64
	mtime time.Time
	ino   uint64
	err   bool
}

// stat stamps the key files.
func (v *Verifier) stat() []fileStamp {
	var out []fileStamp
	for _, p := range []string{v.o.PublicKeyFile, v.o.JWKSFile} {
		if p == "" {
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			out = append(out, fileStamp{err: true})
			continue
		}
		st := fileStamp{size: fi.Size(), mtime: fi.ModTime()}
		if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
			st.ino = sys.Ino
		}
		out = append(out, st)
	}
	return out
}

// watch reloads the keys when a key file changes, until Close.
func (v *Verifier) watch() {
	t := time.NewTicker(v.o.Poll)
	defer t.Stop()
	for {
		select {
		case <-v.stop:
			return
		case <-t.C:
			v.mu.Lock()
			changed := !slices.Equal(v.stamps, v.stat())
			v.mu.Unlock()
			if changed {
				_ = v.Reload()
			}
		}
	}
}

// Reload re-reads the key files now. On an error the previous keys stay.
func (v *Verifier) Reload() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.stamps = v.stat()
	ks, err := loadKeys(&v.o, v.log)
	if err != nil {
		v.failed.Add(1)
		v.log.Error("auth keys not reloaded; the previous keys stay in use", "err", err)
		return err
	}
	v.keys.Store(v.newState(ks))
	v.reloads.Add(1)
	v.log.Info("auth keys reloaded", "keys", len(ks.keys), "algorithms", ks.algs)
	return nil
}

// Reloads returns how many reloads succeeded and failed.
func (v *Verifier) Reloads() (ok, failed int64) { return v.reloads.Load(), v.failed.Load() }

// Close stops watching the key files.
func (v *Verifier) Close() {
	v.stopped.Do(func() { close(v.stop) })
}
