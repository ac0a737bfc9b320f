// A scripted chatd for the HTTP streaming transport: a fetch whose stream GETs the test feeds event
// by event and whose POSTs it answers (by default 200, the next seq), recording everything.
import assert from 'node:assert/strict';

const enc = new TextEncoder();

// One GET of a stream: push raw SSE text to it, end it (the connection drops).
export class FakeStream {
  constructor(url) {
    this.url = url;
    this.aborted = false;
    this.body = new ReadableStream({ start: (ctl) => { this.ctl = ctl; } });
  }
  write(text) { this.ctl.enqueue(typeof text === 'string' ? enc.encode(text) : text); }
  session(data) { this.write(`event: session\ndata: ${JSON.stringify(data)}\n\n`); }
  event(id, obj) { this.write(`id: ${id}\ndata: ${JSON.stringify(obj)}\n\n`); }
  close(code, reason) { this.write(`event: close\ndata: ${JSON.stringify({ code, reason })}\n\n`); }
  end() { try { this.ctl.close(); } catch { /* aborted */ } }
}

export class FakeHTTP {
  constructor() {
    this.streams = [];   // every GET, in order
    this.posts = [];     // every POST: {url, body (parsed), answer}
    this.answers = [];   // queued answers for the next POSTs: {status, body} or 'reject'
    this.getAnswers = []; // queued answers for the next GETs: {status, body} (default: a stream)
    this.fetch = async (url, init) => {
      if (init.method === 'GET') {
        const a = this.getAnswers.shift();
        if (a === 'reject') throw new TypeError('fetch failed');
        if (a) return new Response(JSON.stringify(a.body ?? {}), { status: a.status });
        const s = new FakeStream(url);
        this.streams.push(s);
        if (init.signal) init.signal.addEventListener('abort', () => { s.aborted = true; s.end(); });
        return new Response(s.body, { status: 200, headers: { 'Content-Type': 'text/event-stream' } });
      }
      assert.equal(init.method, 'POST');
      const body = JSON.parse(init.body);
      const p = { url, body, init };
      this.posts.push(p);
      const a = this.answers.shift();
      if (a === 'reject') throw new TypeError('fetch failed');
      const status = a?.status ?? 200;
      return new Response(JSON.stringify(a?.body ?? { seq: body.seq }), { status, headers: { 'Content-Type': 'application/json' } });
    };
  }

  get stream() { return this.streams[this.streams.length - 1]; }
  get post() { return this.posts[this.posts.length - 1]; }
  // The requests of every POST so far, in order.
  requests() { return this.posts.flatMap((p) => p.body.requests ?? []); }
}
