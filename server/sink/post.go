package sink

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// poster POSTs batches to the sink's URL over a keep-alive pool of at
// most one connection per shard.
type poster struct {
	url    string
	header http.Header // the same for every POST; never written after newPoster
	client *http.Client
}

func newPoster(c *Config, shards int) *poster {
	tr := &http.Transport{
		Proxy:               nil, // the backend is reached directly, never through $HTTP_PROXY
		DialContext:         (&net.Dialer{Timeout: c.Timeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        shards,
		MaxIdleConnsPerHost: shards,
		MaxConnsPerHost:     shards,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		TLSHandshakeTimeout: c.Timeout,
	}
	hdr := http.Header{}
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Authorization", "Bearer "+c.Secret)
	hdr.Set("User-Agent", "chatd-sink")
	hdr.Set("X-Chatd-Hook", "sink")
	if c.NodeID != "" {
		hdr.Set("X-Chatd-Node", c.NodeID)
	}
	return &poster{url: c.URL, header: hdr, client: &http.Client{Transport: tr, Timeout: c.Timeout,
		// A redirect is an answer that is not 2xx: following it would send
		// the secret wherever the backend points.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// post sends one batch: nil on a 2xx (the batch is acknowledged), else
// why not (the status, or the transport's error).
func (p *poster) post(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("sink: request: %w", err)
	}
	req.Header = p.header
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("sink: POST: %w", err)
	}
	// Read the answer (bounded) so that the connection is kept.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, MaxAnswerBytes))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("sink: POST answered HTTP %d", resp.StatusCode)
	}
	return nil
}

func (p *poster) close() { p.client.CloseIdleConnections() }
