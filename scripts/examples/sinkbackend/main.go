// Command sinkbackend is an example backend for chatd's hooks and message
// sink (README "Hooks and sink"): it keeps every message chatd's sink
// delivers in a SQLite database, de-duplicated by (roomId, epoch, offset),
// and serves a publish hook that refuses messages with a banned word.
//
//	export CHATD_HOOK_SECRET="$(head -c 24 /dev/urandom | base64)"
//	go run . -addr 127.0.0.1:9000 -db chat.db -ban spam &
//	chatd -hook-publish http://127.0.0.1:9000/publish -sink-url http://127.0.0.1:9000/sink
//
// Endpoints: POST /sink (the sink's batches), POST /publish (the publish
// hook), GET /messages?roomId=R (what is stored for room R, in offset
// order, as JSON). It is an example: one process, one SQLite file.
package main

import (
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"regexp"
	"time"

	_ "modernc.org/sqlite" // a pure-Go SQLite driver: no C compiler needed
)

// batch is the body of a sink POST.
type batch struct {
	Node     string `json:"node"`
	Messages []struct {
		RoomID   string          `json:"roomId"`
		Epoch    string          `json:"epoch"`
		Offset   int64           `json:"offset"`
		StoredAt string          `json:"storedAt"`
		Message  json.RawMessage `json:"message"`
	} `json:"messages"`
}

// message is the stored message inside a sink entry (the fields this
// backend keeps; the rest stays in raw).
type message struct {
	Type      string `json:"type"`
	Content   string `json:"content"`
	Username  string `json:"username"`
	UserID    string `json:"userId"`
	Timestamp string `json:"timestamp"`
}

const schema = `
CREATE TABLE IF NOT EXISTS messages (
  room_id   TEXT    NOT NULL,
  epoch     TEXT    NOT NULL,
  offset    INTEGER NOT NULL,
  stored_at TEXT    NOT NULL,
  user_id   TEXT    NOT NULL,
  username  TEXT    NOT NULL,
  content   TEXT    NOT NULL,
  timestamp TEXT    NOT NULL,
  raw       TEXT    NOT NULL,
  PRIMARY KEY (room_id, epoch, offset)
)`

type backend struct {
	db     *sql.DB
	secret []byte
	banned *regexp.Regexp
}

func main() {
	addr := flag.String("addr", "127.0.0.1:9000", "listen address")
	dbPath := flag.String("db", "chat.db", "SQLite database file")
	ban := flag.String("ban", "spam", "the word the publish hook refuses (whole word, any case)")
	flag.Parse()
	secret := os.Getenv("CHATD_HOOK_SECRET")
	if len(secret) < 16 {
		log.Fatal("set CHATD_HOOK_SECRET (at least 16 bytes), the secret chatd sends")
	}
	db, err := sql.Open("sqlite", *dbPath+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)")
	if err != nil {
		log.Fatal(err)
	}
	db.SetMaxOpenConns(1) // one writer: SQLite's way
	if _, err := db.Exec(schema); err != nil {
		log.Fatalf("schema: %v", err)
	}
	b := &backend{db: db, secret: []byte("Bearer " + secret),
		banned: regexp.MustCompile(`(?i)\b` + regexp.QuoteMeta(*ban) + `\b`)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /sink", b.auth(b.sink))
	mux.HandleFunc("POST /publish", b.auth(b.publish))
	mux.HandleFunc("GET /messages", b.auth(b.messages))
	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Printf("sinkbackend listening on %s, database %s", *addr, *dbPath)
	log.Fatal(srv.ListenAndServe())
}

// auth refuses callers without the shared secret (compared in constant
// time).
func (b *backend) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), b.secret) != 1 {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h(w, r)
	}
}

// sink stores a batch in one transaction; a message already stored (the
// same room, epoch and offset: chatd delivers at least once) is ignored.
// Only once the transaction is committed does chatd get its 2xx: anything
// else makes it send the batch again.
func (b *backend) sink(w http.ResponseWriter, r *http.Request) {
	var in batch
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<20)).Decode(&in); err != nil {
		http.Error(w, "bad batch: "+err.Error(), http.StatusBadRequest)
		return
	}
	if err := b.store(&in); err != nil {
		log.Printf("sink: %v", err)
		http.Error(w, "storage failed", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (b *backend) store(in *batch) error {
	tx, err := b.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	st, err := tx.Prepare(`INSERT INTO messages (room_id, epoch, offset, stored_at, user_id, username, content, timestamp, raw)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (room_id, epoch, offset) DO NOTHING`)
	if err != nil {
		return err
	}
	defer st.Close()
	for _, m := range in.Messages {
		var msg message
		if len(m.Message) > 0 {
			if err := json.Unmarshal(m.Message, &msg); err != nil {
				return fmt.Errorf("room %s offset %d: %w", m.RoomID, m.Offset, err)
			}
		}
		if _, err := st.Exec(m.RoomID, m.Epoch, m.Offset, m.StoredAt, msg.UserID, msg.Username, msg.Content,
			msg.Timestamp, string(m.Message)); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// publish is chatd's publish hook: a message with the banned word is
// refused, every other goes out as it is.
func (b *backend) publish(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Content string `json:"content"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&in); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	answer := map[string]any{}
	if b.banned.MatchString(in.Content) {
		answer["error"] = map[string]string{"code": "banned_word", "message": "That word is not allowed here"}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(answer)
}

// messages lists a room's stored messages in offset order (of each epoch,
// oldest epoch first).
func (b *backend) messages(w http.ResponseWriter, r *http.Request) {
	room := r.URL.Query().Get("roomId")
	if room == "" {
		http.Error(w, "roomId is required", http.StatusBadRequest)
		return
	}
	rows, err := b.db.Query(`SELECT epoch, offset, stored_at, user_id, username, content, timestamp FROM messages
		WHERE room_id = ? ORDER BY stored_at, offset`, room)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer rows.Close()
	type row struct {
		Epoch     string `json:"epoch"`
		Offset    int64  `json:"offset"`
		StoredAt  string `json:"storedAt"`
		UserID    string `json:"userId"`
		Username  string `json:"username"`
		Content   string `json:"content"`
		Timestamp string `json:"timestamp"`
	}
	out := []row{}
	for rows.Next() {
		var x row
		if err := rows.Scan(&x.Epoch, &x.Offset, &x.StoredAt, &x.UserID, &x.Username, &x.Content, &x.Timestamp); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		out = append(out, x)
	}
	if err := rows.Err(); err != nil && !errors.Is(err, sql.ErrNoRows) {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}
