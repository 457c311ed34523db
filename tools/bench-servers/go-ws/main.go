// A gorilla/websocket server with sluice-ws's benchmark endpoints, for
// tools/ws-bench-compare:
//
//	GET  /ws/echo         every message back with its type
//	GET  /ws/push         text "subscribe TOPIC" -> "subscribed TOPIC" (and unsubscribe)
//	POST /publish/:topic  the body to every subscriber of TOPIC as a text message
//
// usage: go-ws [--host ADDR] [--port N]   (port 0: a free one, printed)
//
// GOMAXPROCS is left to the runtime, which counts the CPUs in the affinity
// mask: `taskset -c 0 go-ws` runs on one. Built in GOPATH mode against
// Debian's golang-github-gorilla-websocket-dev, so nothing is downloaded.
package main

import (
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// sluice-ws's default --max-message-bytes: both servers refuse the same sizes.
const maxMessageBytes = 1 << 20

// A write that cannot finish in this long (a subscriber that stopped
// reading) closes that subscriber instead of stalling every publish.
const writeTimeout = 10 * time.Second

var upgrader = websocket.Upgrader{
	// The benchmark client sends no Origin; a browser page would.
	CheckOrigin: func(r *http.Request) bool { return true },
}

// subscriber is one /ws/push connection. gorilla allows one writer at a
// time per connection: the reader goroutine (answers) and publishers share
// it under mu.
type subscriber struct {
	conn *websocket.Conn
	mu   sync.Mutex
}

func (s *subscriber) write(kind int, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	return s.conn.WriteMessage(kind, data)
}

func (s *subscriber) writePrepared(pm *websocket.PreparedMessage) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	return s.conn.WritePreparedMessage(pm)
}

// topics maps a topic to its subscribers. Publishing holds the read lock
// while it writes, so (un)subscribing waits for a publish to finish.
type topics struct {
	mu   sync.RWMutex
	subs map[string]map[*subscriber]struct{}
}

func (t *topics) subscribe(topic string, s *subscriber) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.subs[topic] == nil {
		t.subs[topic] = make(map[*subscriber]struct{})
	}
	t.subs[topic][s] = struct{}{}
}

func (t *topics) unsubscribe(topic string, s *subscriber) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.subs[topic], s)
	if len(t.subs[topic]) == 0 {
		delete(t.subs, topic)
	}
}

// publish frames body once (a PreparedMessage) and writes that frame to
// every subscriber of topic; those whose write fails are closed.
func (t *topics) publish(topic string, body []byte) {
	pm, err := websocket.NewPreparedMessage(websocket.TextMessage, body)
	if err != nil {
		log.Printf("publish %s: %v", topic, err)
		return
	}
	var failed []*subscriber
	t.mu.RLock()
	for s := range t.subs[topic] {
		if s.writePrepared(pm) != nil {
			failed = append(failed, s)
		}
	}
	t.mu.RUnlock()
	for _, s := range failed {
		s.conn.Close() // its reader goroutine then unsubscribes it
	}
}

// echo reads and writes whole messages (ReadMessage, WriteMessage), as
// gorilla's own examples/echo does: a buffer allocated per message. A
// NextReader/NextWriter loop with io.Copy would allocate less; this is what
// most gorilla servers run.
func echo(w http.ResponseWriter, r *http.Request) {
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has answered 400 already
	}
	defer conn.Close()
	conn.SetReadLimit(maxMessageBytes)
	for {
		kind, data, err := conn.ReadMessage()
		if err != nil {
			return // gorilla's close handler has echoed a client's close code
		}
		if err := conn.WriteMessage(kind, data); err != nil {
			return
		}
	}
}

func push(all *topics) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		conn, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		conn.SetReadLimit(maxMessageBytes)
		s := &subscriber{conn: conn}
		mine := map[string]bool{}
		defer func() {
			for topic := range mine {
				all.unsubscribe(topic, s)
			}
			conn.Close()
		}()
		for {
			kind, data, err := conn.ReadMessage()
			if err != nil {
				return
			}
			if kind != websocket.TextMessage {
				continue
			}
			command, topic, _ := strings.Cut(string(data), " ")
			switch {
			case command == "subscribe" && topic != "":
				all.subscribe(topic, s)
				mine[topic] = true
			case command == "unsubscribe" && topic != "":
				all.unsubscribe(topic, s)
				delete(mine, topic)
			default:
				continue
			}
			if s.write(websocket.TextMessage, []byte(command+"d "+topic)) != nil {
				return
			}
		}
	}
}

func publish(all *topics) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		topic := strings.TrimPrefix(r.URL.Path, "/publish/")
		if r.Method != http.MethodPost {
			http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
			return
		}
		if topic == "" || strings.Contains(topic, "/") {
			http.NotFound(w, r)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxMessageBytes+1))
		if err != nil || len(body) > maxMessageBytes {
			http.Error(w, "Bad Request", http.StatusBadRequest)
			return
		}
		all.publish(topic, body)
		io.WriteString(w, "published\n")
	}
}

func main() {
	host := flag.String("host", "127.0.0.1", "address to listen on")
	port := flag.String("port", "8090", "port to listen on (0: a free one)")
	flag.Parse()

	all := &topics{subs: map[string]map[*subscriber]struct{}{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/ws/echo", echo)
	mux.HandleFunc("/ws/push", push(all))
	mux.HandleFunc("/publish/", publish(all))

	listener, err := net.Listen("tcp", net.JoinHostPort(*host, *port))
	if err != nil {
		log.Fatal(err)
	}
	addr := listener.Addr().(*net.TCPAddr)
	log.Printf("go-ws on %s port %d, GOMAXPROCS %d", addr.IP, addr.Port, runtime.GOMAXPROCS(0))
	log.Fatal(http.Serve(listener, mux))
}
