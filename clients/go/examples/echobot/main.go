// Command echobot is the README's Go client example: it joins a room and
// answers every new message there. Run a node (go run ./cmd/chatd), then
// go run ./clients/go/examples/echobot (CHATD_URL names another server).
package main

import (
	"cmp"
	"context"
	"fmt"
	"log"
	"os"

	chatdclient "github.com/chatd/chatd/clients/go"
)

func main() {
	ctx := context.Background()
	url := cmp.Or(os.Getenv("CHATD_URL"), "ws://localhost:8080/ws")
	c, err := chatdclient.Connect(ctx, chatdclient.Config{URL: url, Name: "echobot"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	room, err := c.Join(ctx, "general", &chatdclient.JoinOptions{History: 10})
	if err != nil {
		log.Fatal(err)
	}
	for ev := range c.Events() { // reconnects and recovers by itself
		switch e := ev.(type) {
		case chatdclient.MessageEvent:
			fmt.Printf("%s: %s\n", e.Name, e.Content)
			if !e.Replay { // not history
				if _, err := room.Publish(ctx, "echo: "+e.Content); err != nil {
					log.Print(err) // e.g. ErrDisconnected while reconnecting: not sent
				}
			}
		case chatdclient.GapEvent: // the server could not recover what was missed
			fmt.Println("(some messages may be missing)")
		}
	}
}
