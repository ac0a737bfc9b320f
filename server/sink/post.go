package sink

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/chatd/chatd/server/internal/backendhttp"
)

// poster POSTs batches to the sink's URL over a keep-alive pool of at
// most one connection per shard.
type poster struct {
	url    string
	header http.Header // the same for every POST; never written after newPoster
	client *http.Client
}

func newPoster(c *Config, shards int) *poster {
	client := backendhttp.Client(shards, c.Timeout, 90*time.Second)
	client.Timeout = c.Timeout
	return &poster{url: c.URL, header: backendhttp.Header(c.Secret, "chatd-sink", "sink", c.NodeID), client: client}
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
