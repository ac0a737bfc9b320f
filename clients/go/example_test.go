package chatdclient_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"testing"
	"time"

	chatdclient "github.com/chatd/chatd/clients/go"
)

// TestMain runs the examples against an in-memory imitation of a chatd node
// (its URL in CHATD_URL, where the examples read it).
func TestMain(m *testing.M) {
	fake := chatdclient.StartFakeChat()
	os.Setenv("CHATD_URL", fake.URL())
	code := m.Run()
	fake.Close()
	os.Exit(code)
}

// Two users in a room: bob's message reaches alice as an event.
func Example() {
	ctx := context.Background()
	url := os.Getenv("CHATD_URL") // e.g. ws://localhost:8080/ws

	alice, err := chatdclient.Connect(ctx, chatdclient.Config{URL: url, Name: "alice"})
	if err != nil {
		log.Fatal(err)
	}
	defer alice.Close()
	if _, err := alice.Join(ctx, "general", nil); err != nil {
		log.Fatal(err)
	}

	bob, err := chatdclient.Connect(ctx, chatdclient.Config{URL: url, Name: "bob"})
	if err != nil {
		log.Fatal(err)
	}
	defer bob.Close()
	room, err := bob.Join(ctx, "general", nil)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := room.Publish(ctx, "hi alice"); err != nil {
		log.Fatal(err)
	}

	for ev := range alice.Events() {
		switch e := ev.(type) {
		case chatdclient.JoinedEvent:
			fmt.Printf("%s joined %s (%d members)\n", e.User.Name, e.RoomID, e.MemberCount)
		case chatdclient.MessageEvent:
			fmt.Printf("[%s] %s: %s\n", e.RoomID, e.Name, e.Content)
			return
		}
	}
	// Output:
	// bob joined general (2 members)
	// [general] bob: hi alice
}

// Connect with a token from your backend, refreshed before it expires.
func ExampleConnect_getToken() {
	ctx := context.Background()
	getToken := func(ctx context.Context) (string, error) {
		// Ask your backend for a JWT naming this user (README, "Authentication").
		return "a.jwt.token", nil
	}
	c, err := chatdclient.Connect(ctx, chatdclient.Config{
		URL:      os.Getenv("CHATD_URL"),
		GetToken: getToken,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	fmt.Println(c.State())
	// Output: connected
}

// Every event type, and what an application does with it.
func ExampleClient_Events() {
	ctx := context.Background()
	url := os.Getenv("CHATD_URL")
	c, err := chatdclient.Connect(ctx, chatdclient.Config{URL: url, Name: "viewer"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Join(ctx, "events", nil); err != nil {
		log.Fatal(err)
	}
	go post(url, "events", "hello") // another user, joining and saying hello

	for ev := range c.Events() { // read from one goroutine; the client never waits for it
		switch e := ev.(type) {
		case chatdclient.StateEvent:
			fmt.Println("state:", e.State)
			if e.State == chatdclient.StateDisconnected {
				log.Printf("closed %d %q: %v", e.Code, e.Reason, e.Err)
			}
		case chatdclient.MessageEvent:
			fmt.Printf("[%s #%d] %s: %s\n", e.RoomID, e.Offset, e.Name, e.Content)
			return
		case chatdclient.JoinedEvent:
			fmt.Println(e.User.Name, "joined") // or ask Room.Presence
		case chatdclient.LeftEvent:
			fmt.Println(e.User.Name, "left")
		case chatdclient.TypingEvent:
			// Show "… is typing" for a few seconds.
		case chatdclient.RecoveredEvent:
			// Back after a reconnect: the e.Missed messages just before were the ones missed.
		case chatdclient.GapEvent:
			log.Printf("%s: some messages may be missing", e.RoomID) // page back with Room.History
		case chatdclient.RoomLostEvent:
			log.Printf("no longer in %s: %v", e.RoomID, e.Err)
		case chatdclient.ErrorEvent:
			log.Print(e.Err)
		}
	}
	// Output:
	// state: connecting
	// state: connected
	// poster joined
	// [events #1] poster: hello
}

// post joins a room as "poster" and publishes content.
func post(url, room, content string) {
	ctx := context.Background()
	c, err := chatdclient.Connect(ctx, chatdclient.Config{URL: url, Name: "poster"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	r, err := c.Join(ctx, room, nil)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := r.Publish(ctx, content); err != nil {
		log.Fatal(err)
	}
}

// Publish returns where the message is stored; while disconnected it fails
// at once.
func ExampleRoom_Publish() {
	ctx := context.Background()
	c, err := chatdclient.Connect(ctx, chatdclient.Config{URL: os.Getenv("CHATD_URL"), Name: "writer"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	room, err := c.Join(ctx, "journal", nil)
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	p, err := room.Publish(ctx, "first entry")
	switch {
	case errors.Is(err, chatdclient.ErrDisconnected):
		// Not sent: try again once StateConnected comes.
	case errors.Is(err, chatdclient.ErrTimeout), errors.Is(err, chatdclient.ErrConnectionLost):
		// Maybe stored: if it was, the room's recovery delivers it.
	case err != nil:
		log.Fatal(err) // *ServerError: refused
	}
	fmt.Println("stored at offset", p.Offset)
	// Output: stored at offset 1
}

// History pages back from the newest messages.
func ExampleRoom_History() {
	ctx := context.Background()
	c, err := chatdclient.Connect(ctx, chatdclient.Config{URL: os.Getenv("CHATD_URL"), Name: "reader"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	room, err := c.Join(ctx, "archive", nil)
	if err != nil {
		log.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		if _, err := room.Publish(ctx, fmt.Sprint("entry ", i)); err != nil {
			log.Fatal(err)
		}
	}
	opts := &chatdclient.HistoryOptions{Limit: 2}
	for {
		page, err := room.History(ctx, opts)
		if err != nil {
			log.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		fmt.Println(page[0].Content, "..", page[len(page)-1].Content)
		opts.Before = page[0].Offset
	}
	// Output:
	// entry 4 .. entry 5
	// entry 2 .. entry 3
	// entry 1 .. entry 1
}

// Presence lists a room's members.
func ExampleRoom_Presence() {
	ctx := context.Background()
	c, err := chatdclient.Connect(ctx, chatdclient.Config{URL: os.Getenv("CHATD_URL"), Name: "carol"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	room, err := c.Join(ctx, "quiet", nil)
	if err != nil {
		log.Fatal(err)
	}
	p, err := room.Presence(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range p.Members {
		fmt.Println(m.Name)
	}
	// Output: carol
}

// AllRooms walks the room list page by page.
func ExampleClient_AllRooms() {
	ctx := context.Background()
	c, err := chatdclient.Connect(ctx, chatdclient.Config{URL: os.Getenv("CHATD_URL"), Name: "dora"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	for _, id := range []string{"team-a", "team-b", "team-c"} {
		if _, err := c.Join(ctx, id, nil); err != nil {
			log.Fatal(err)
		}
	}
	for r, err := range c.AllRooms(ctx, "team-", 2) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(r.RoomID, r.MemberCount)
	}
	// Output:
	// team-a 1
	// team-b 1
	// team-c 1
}

// A bot can save where it stood and resume there after a restart.
func ExampleJoinOptions_since() {
	ctx := context.Background()
	url := os.Getenv("CHATD_URL")
	post(url, "diary", "first entry")
	post(url, "diary", "second entry")

	c, err := chatdclient.Connect(ctx, chatdclient.Config{URL: url, Name: "bot"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	saved := chatdclient.Position{Epoch: "e1", Offset: 1} // e.g. Room.Position() stored on disk
	if _, err := c.Join(ctx, "diary", &chatdclient.JoinOptions{Since: &saved}); err != nil {
		log.Fatal(err)
	}
	for ev := range c.Events() {
		switch e := ev.(type) {
		case chatdclient.MessageEvent:
			fmt.Println(e.Offset, e.Content)
		case chatdclient.RecoveredEvent:
			fmt.Println("missed", e.Missed)
			return
		case chatdclient.GapEvent:
			fmt.Println("history does not reach back that far")
			return
		}
	}
	// Output:
	// 2 second entry
	// missed 1
}
