package bench

import (
	"reflect"
	"strings"
)

// Counters are a loop's (or process's, or run's) event counts. All are sums except the Max*
// and Last* fields, which merge by maximum.
type Counters struct {
	Dialed        uint64 `json:"dialed"`
	NotDialed     uint64 `json:"notDialed"` // the join phase ended before their turn
	Connected     uint64 `json:"connected"` // upgraded
	ConnectFailed uint64 `json:"connectFailed"`
	Joined        uint64 `json:"joined"`
	JoinFailed    uint64 `json:"joinFailed"`
	Disconnects   uint64 `json:"disconnects"` // joined members the server closed or lost
	// HoldDisconnects: joined members the server closed after the accounting, during -hold
	// (e.g. a node drained on purpose); not a failure.
	HoldDisconnects uint64 `json:"holdDisconnects"`

	Sent           uint64 `json:"sent"`
	Delivered      uint64 `json:"delivered"` // first arrivals at other members
	Measured       uint64 `json:"measured"`  // of those, messages sent after the warmup
	Duplicated     uint64 `json:"duplicated"`
	OutOfOrder     uint64 `json:"outOfOrder"`
	Echoes         uint64 `json:"echoes"`
	EchoDuplicated uint64 `json:"echoDuplicated"`
	EchoLate       uint64 `json:"echoLate"`
	Stray          uint64 `json:"stray"`     // benchmark message from a sender not in the room
	Foreign        uint64 `json:"foreign"`   // chat message whose content is not ours
	Untracked      uint64 `json:"untracked"` // chat message before the member became a receiver
	Unparsed       uint64 `json:"unparsed"`  // frame payload that is not a JSON object
	BadFrames      uint64 `json:"badFrames"`
	ServerErrors   uint64 `json:"serverErrors"`
	UserJoined     uint64 `json:"userJoined"`
	UserLeft       uint64 `json:"userLeft"`

	// v2 (session_v2.go): replies to our publishes, in place of v1's echoes.
	Acks          uint64 `json:"acks"`          // publishes answered ok
	AckDuplicated uint64 `json:"ackDuplicated"` // a second reply to one publish
	AckLate       uint64 `json:"ackLate"`       // a reply overtaken by a later publish's (the server answers in order)
	AckErrors     uint64 `json:"ackErrors"`     // publishes refused (error reply)
	SelfPushes    uint64 `json:"selfPushes"`    // a message pushed back to its publishing connection
	BadReplies    uint64 `json:"badReplies"`    // a reply whose id matches no request of ours
	// Offsets (offsets.go): messages, results and replies that carried one, or none.
	WithOffset       uint64 `json:"withOffset"`
	NoOffset         uint64 `json:"noOffset"`
	OffsetDistinct   uint64 `json:"offsetDistinct"`   // offsets each member came to know, summed (at the end)
	OffsetDuplicated uint64 `json:"offsetDuplicated"` // an offset a member had already seen (its own recovered ones aside)
	OffsetStray      uint64 `json:"offsetStray"`      // an offset at or below the first join's
	// recovery (recovery.go)
	Outages           uint64 `json:"outages"`           // members that went away
	OutagesSkipped    uint64 `json:"outagesSkipped"`    // planned outages of members already gone (disconnected, failed)
	AwayUnanswered    uint64 `json:"awayUnanswered"`    // outages that gave up waiting for publish replies
	Reconnects        uint64 `json:"reconnects"`        // members back in every room
	ReconnectFailed   uint64 `json:"reconnectFailed"`   // members that could not come back
	Recovered         uint64 `json:"recovered"`         // re-joins answered recovered: true
	RecoveryFailed    uint64 `json:"recoveryFailed"`    // re-joins with since answered recovered: false (or without it)
	RecoveredMessages uint64 `json:"recoveredMessages"` // deliveries that came in a join result's messages
	OwnRecovered      uint64 `json:"ownRecovered"`      // our own messages in a recovered history (not deliveries)
	RecoveredKnown    uint64 `json:"recoveredKnown"`    // recovered messages pushed meanwhile, during a resync's re-join (not duplicates)
	Resyncs           uint64 `json:"resyncs"`           // resync pushes (each answered by a re-join with since)
	EpochChanges      uint64 `json:"epochChanges"`      // a re-join found another epoch of the room's history
	NoHistory         uint64 `json:"noHistory"`         // recovery members stopped by us: a publish answered without an offset (the server keeps no history)

	ChurnDialed uint64 `json:"churnDialed"`
	ChurnJoined uint64 `json:"churnJoined"`
	ChurnCycles uint64 `json:"churnCycles"`
	ChurnFailed uint64 `json:"churnFailed"`

	Reads        uint64 `json:"reads"` // read(2) calls that returned data: deliveries per read shows the server's write coalescing
	LateSends    uint64 `json:"lateSends"`
	MaxSendLagNs int64  `json:"maxSendLagNs"`
	LastJoinNs   int64  `json:"lastJoinNs"`
}

// add merges o into c.
func (c *Counters) add(o *Counters) {
	cv, ov := reflect.ValueOf(c).Elem(), reflect.ValueOf(o).Elem()
	t := cv.Type()
	for i := 0; i < cv.NumField(); i++ {
		f, g := cv.Field(i), ov.Field(i)
		name := t.Field(i).Name
		switch f.Kind() {
		case reflect.Uint64:
			f.SetUint(f.Uint() + g.Uint())
		case reflect.Int64:
			if strings.HasPrefix(name, "Max") || strings.HasPrefix(name, "Last") {
				if g.Int() > f.Int() {
					f.SetInt(g.Int())
				}
			} else {
				f.SetInt(f.Int() + g.Int())
			}
		}
	}
}

// Raw is one load process's result: counts, histograms and per-room totals that merge exactly
// across processes. The -procs children send theirs to the parent as JSON.
type Raw struct {
	Proc int `json:"proc"`
	Counters
	Latency          *Hist `json:"latency"`
	EchoLatency      *Hist `json:"echoLatency"`
	JoinLatency      *Hist `json:"joinLatency"`
	ChurnLatency     *Hist `json:"churnLatency"`
	AckLatency       *Hist `json:"ackLatency"`
	ReconnectLatency *Hist `json:"reconnectLatency"`

	// Per room: receivers owned here, messages sent by members owned here, and messages sent by
	// the receivers owned here. Expected deliveries of a room are
	// (all receivers) * (all sent) - (sent by receivers), since nobody receives its own message.
	RoomReceivers []uint64 `json:"roomReceivers"`
	RoomSent      []uint64 `json:"roomSent"`
	RoomSelfSent  []uint64 `json:"roomSelfSent"`
	Holes         uint64   `json:"holes"` // sequence gaps still open at the end
	// Per room: the highest offset (relative to the first join's) any receiver here saw.
	RoomMaxOffset []uint64 `json:"roomMaxOffset"`

	JoinStartNs   int64 `json:"joinStartNs"`
	JoinEndNs     int64 `json:"joinEndNs"`
	SettledNs     int64 `json:"settledNs"`
	SettleOK      bool  `json:"settleOK"`
	StartNs       int64 `json:"startNs"`
	SendEndNs     int64 `json:"sendEndNs"`
	DrainEndNs    int64 `json:"drainEndNs"`
	DrainComplete bool  `json:"drainComplete"`
	Interrupted   bool  `json:"interrupted"`

	LoadCPUSec      float64 `json:"loadCPUSec"`      // send + drain
	LoadCPUTotalSec float64 `json:"loadCPUTotalSec"` // whole process

	Errors     map[string]uint64 `json:"errors"`
	CloseCodes map[string]uint64 `json:"closeCodes"`
}

func newRaw(proc, rooms int) *Raw {
	return &Raw{
		Proc:    proc,
		Latency: NewHist(), EchoLatency: NewHist(), JoinLatency: NewHist(), ChurnLatency: NewHist(),
		AckLatency: NewHist(), ReconnectLatency: NewHist(),
		RoomReceivers: make([]uint64, rooms), RoomSent: make([]uint64, rooms), RoomSelfSent: make([]uint64, rooms),
		RoomMaxOffset: make([]uint64, rooms),
		Errors:        map[string]uint64{}, CloseCodes: map[string]uint64{},
	}
}

// mergeRaw combines the processes' results: counts add, histograms merge, times span.
func mergeRaw(rs []*Raw, rooms int) *Raw {
	m := newRaw(-1, rooms)
	m.SettleOK, m.DrainComplete = true, true
	minPos := func(a, b int64) int64 {
		if a == 0 || (b != 0 && b < a) {
			return b
		}
		return a
	}
	maxOf := func(a, b int64) int64 {
		if b > a {
			return b
		}
		return a
	}
	for _, r := range rs {
		m.Counters.add(&r.Counters)
		m.Latency.Merge(r.Latency)
		m.EchoLatency.Merge(r.EchoLatency)
		m.JoinLatency.Merge(r.JoinLatency)
		m.ChurnLatency.Merge(r.ChurnLatency)
		m.AckLatency.Merge(r.AckLatency)
		m.ReconnectLatency.Merge(r.ReconnectLatency)
		for i := 0; i < rooms && i < len(r.RoomSent); i++ {
			m.RoomReceivers[i] += r.RoomReceivers[i]
			m.RoomSent[i] += r.RoomSent[i]
			m.RoomSelfSent[i] += r.RoomSelfSent[i]
		}
		for i := 0; i < rooms && i < len(r.RoomMaxOffset); i++ {
			m.RoomMaxOffset[i] = max(m.RoomMaxOffset[i], r.RoomMaxOffset[i])
		}
		m.Holes += r.Holes
		m.JoinStartNs = minPos(m.JoinStartNs, r.JoinStartNs)
		m.JoinEndNs = maxOf(m.JoinEndNs, r.JoinEndNs)
		m.SettledNs = maxOf(m.SettledNs, r.SettledNs)
		m.SettleOK = m.SettleOK && r.SettleOK
		m.StartNs = minPos(m.StartNs, r.StartNs)
		m.SendEndNs = maxOf(m.SendEndNs, r.SendEndNs)
		m.DrainEndNs = maxOf(m.DrainEndNs, r.DrainEndNs)
		m.DrainComplete = m.DrainComplete && r.DrainComplete
		m.Interrupted = m.Interrupted || r.Interrupted
		m.LoadCPUSec += r.LoadCPUSec
		m.LoadCPUTotalSec += r.LoadCPUTotalSec
		for k, v := range r.Errors {
			m.Errors[k] += v
		}
		for k, v := range r.CloseCodes {
			m.CloseCodes[k] += v
		}
	}
	return m
}

// ServerProc is one sampled server process.
type ServerProc struct {
	Pid           int     `json:"pid"`
	CPUSec        float64 `json:"cpuSec"` // during send + drain
	RSSBaselineKB int64   `json:"rssBaselineKB"`
	RSSStartKB    int64   `json:"rssStartKB"` // all joined, before sending
	RSSEndKB      int64   `json:"rssEndKB"`
	RSSPeakKB     int64   `json:"rssPeakKB"`
	Err           string  `json:"err,omitempty"`
}

// Result is the final, merged result of a run: what the summary prints and -json emits.
type Result struct {
	Workload       string   `json:"workload"`
	Proto          string   `json:"proto"`
	RoomsPerClient int      `json:"roomsPerClient"`
	URLs           []string `json:"urls"`
	Procs          int      `json:"procs"`
	Clients        int      `json:"clients"`
	Rooms          int      `json:"rooms"`
	RatePerClient  float64  `json:"ratePerClient"`  // per sender
	SendersPerRoom int      `json:"sendersPerRoom"` // 0: every member sends
	Size           int      `json:"size"`
	WarmupSec      float64  `json:"warmupSec"`
	DurationSec    float64  `json:"durationSec"`

	Counters

	JoinPhaseSec float64        `json:"joinPhaseSec"`
	JoinsPerSec  float64        `json:"joinsPerSec"`
	JoinLatency  LatencySummary `json:"joinLatency"`
	SettleSec    float64        `json:"settleSec"` // join start until every member saw its room full
	SettleOK     bool           `json:"settleOK"`
	// Every pair of members of a room yields at least one userJoined (sum over rooms of
	// m(m-1)/2); concurrent joins may announce a join to a member who joined just after it too.
	UserJoinedExpected uint64 `json:"userJoinedExpected"`

	Expected         uint64         `json:"expected"`
	Lost             uint64         `json:"lost"`
	Excess           uint64         `json:"excess"` // delivered beyond expected (should never happen)
	EchoesMissing    uint64         `json:"echoesMissing"`
	Latency          LatencySummary `json:"latency"`
	EchoLatency      LatencySummary `json:"echoLatency"`
	SentPerSec       float64        `json:"sentPerSec"`
	DeliveriesPerSec float64        `json:"deliveriesPerSec"`
	DrainSec         float64        `json:"drainSec"`
	DrainComplete    bool           `json:"drainComplete"`
	Holes            uint64         `json:"holes"`

	ChurnPerSec  float64        `json:"churnPerSec"`
	ChurnLatency LatencySummary `json:"churnLatency"`

	// v2 (result_v2.go)
	AcksMissing uint64         `json:"acksMissing"` // publishes without any reply
	AckLatency  LatencySummary `json:"ackLatency"`  // publish written to its ok
	// Offsets are judged when every message and publish reply carried one (a server with
	// history): every receiver must know every offset of each of its rooms exactly once.
	OffsetsJudged  bool   `json:"offsetsJudged"`
	OffsetExpected uint64 `json:"offsetExpected"` // per room: receivers * messages published
	OffsetMissing  uint64 `json:"offsetMissing"`
	OffsetBeyond   uint64 `json:"offsetBeyond"` // rooms where an offset beyond the messages published was seen
	// recovery
	ChurnShare       float64        `json:"churnShare,omitempty"`
	AwayMinSec       float64        `json:"awayMinSec,omitempty"`
	AwayMaxSec       float64        `json:"awayMaxSec,omitempty"`
	Seed             uint64         `json:"seed,omitempty"`
	ReconnectLatency LatencySummary `json:"reconnectLatency"`

	LoadCPUSec            float64 `json:"loadCPUSec"`
	LoadCPUTotalSec       float64 `json:"loadCPUTotalSec"`
	LoadCPUPerMDeliveries float64 `json:"loadCPUPerMDeliveries"`

	Server                  []ServerProc `json:"server"`
	ServerCPUSec            float64      `json:"serverCPUSec"`
	ServerCPUPerMDeliveries float64      `json:"serverCPUPerMDeliveries"`
	ServerRSSPerConnBytes   float64      `json:"serverRSSPerConnBytes"` // (RSS with all joined - baseline) / joined

	Errors      map[string]uint64 `json:"errors"`
	CloseCodes  map[string]uint64 `json:"closeCodes"`
	Interrupted bool              `json:"interrupted"`
	// Failures names each way the run failed (verdict.go), e.g. "3 messages out of order".
	Failures []string `json:"failures"`
	Pass     bool     `json:"pass"`
}

// finalize derives the result from the merged raw counts, the configuration, the members that
// failed to join (global indices) and the server samples.
func finalize(cfg *Config, m *Raw, failed []int, ss *serverSampler) *Result {
	r := &Result{
		Workload: cfg.Workload, Proto: cfg.Proto, RoomsPerClient: max(1, cfg.RoomsPerClient), URLs: cfg.URLs, Procs: cfg.Procs, Clients: cfg.Clients, Rooms: cfg.Rooms,
		SendersPerRoom: cfg.SendersPerRoom, Size: cfg.Size, WarmupSec: cfg.Warmup.Seconds(), DurationSec: cfg.Duration.Seconds(),
		Counters: m.Counters, Errors: m.Errors, CloseCodes: m.CloseCodes, Interrupted: m.Interrupted,
		SettleOK: m.SettleOK, DrainComplete: m.DrainComplete, Holes: m.Holes,
	}
	if iv := cfg.sendInterval(); iv > 0 {
		r.RatePerClient = 1e9 / float64(iv)
	}
	secs := func(a, b int64) float64 {
		if a == 0 || b < a {
			return 0
		}
		return float64(b-a) / 1e9
	}
	r.JoinPhaseSec = secs(m.JoinStartNs, m.LastJoinNs)
	if r.JoinPhaseSec > 0 {
		r.JoinsPerSec = float64(m.Joined) / r.JoinPhaseSec
	}
	r.JoinLatency = m.JoinLatency.Summary()
	if cfg.WaitNotices {
		r.SettleSec = secs(m.JoinStartNs, m.SettledNs)
	}

	lay := cfg.layout()
	joinedIn := roomJoinedCounts(lay, failed)
	for _, n := range joinedIn {
		r.UserJoinedExpected += uint64(n * (n - 1) / 2)
	}
	for i := range m.RoomSent {
		r.Expected += m.RoomReceivers[i]*m.RoomSent[i] - m.RoomSelfSent[i]
	}
	if m.Delivered <= r.Expected {
		r.Lost = r.Expected - m.Delivered
	} else {
		r.Excess = m.Delivered - r.Expected
	}
	if cfg.Proto != "v2" && m.Echoes < m.Sent {
		r.EchoesMissing = m.Sent - m.Echoes
	}
	r.Latency = m.Latency.Summary()
	r.EchoLatency = m.EchoLatency.Summary()
	if w := secs(m.StartNs, m.SendEndNs); w > 0 {
		r.SentPerSec = float64(m.Sent) / w
	}
	// The measured window runs from the end of the warmup to the end of sending (a -count run
	// may end before -duration).
	if m.StartNs > 0 {
		from := m.StartNs + int64(cfg.Warmup)
		to := min(m.SendEndNs, from+int64(cfg.Duration))
		if w := secs(from, to); w > 0 {
			r.DeliveriesPerSec = float64(m.Measured) / w
		}
	}
	r.DrainSec = secs(m.SendEndNs, m.DrainEndNs)
	if cfg.ChurnRate > 0 {
		r.ChurnPerSec = float64(m.ChurnCycles) / secs(m.StartNs, m.SendEndNs)
		r.ChurnLatency = m.ChurnLatency.Summary()
	}
	r.LoadCPUSec, r.LoadCPUTotalSec = m.LoadCPUSec, m.LoadCPUTotalSec
	if m.Delivered > 0 {
		r.LoadCPUPerMDeliveries = m.LoadCPUSec / (float64(m.Delivered) / 1e6)
	}
	if ss != nil {
		var rssDeltaKB int64
		for i, pid := range ss.pids {
			p := ServerProc{Pid: pid, RSSPeakKB: ss.peakKB[i]}
			if ss.baseline != nil {
				p.RSSBaselineKB = ss.baseline[i].RSSKB
				p.Err = ss.baseline[i].Err
			}
			if ss.start != nil {
				p.RSSStartKB = ss.start[i].RSSKB
				if ss.end != nil {
					p.CPUSec = ss.end[i].CPUSec - ss.start[i].CPUSec
				}
				rssDeltaKB += p.RSSStartKB - p.RSSBaselineKB
			}
			if ss.end != nil {
				p.RSSEndKB = ss.end[i].RSSKB
				if p.Err == "" {
					p.Err = ss.end[i].Err
				}
			}
			r.Server = append(r.Server, p)
			r.ServerCPUSec += p.CPUSec
		}
		if m.Delivered > 0 {
			r.ServerCPUPerMDeliveries = r.ServerCPUSec / (float64(m.Delivered) / 1e6)
		}
		if m.Joined > 0 && len(ss.pids) > 0 {
			r.ServerRSSPerConnBytes = float64(rssDeltaKB) * 1024 / float64(m.Joined)
		}
	}
	if cfg.Proto == "v2" {
		finalizeV2(cfg, m, r)
	}
	r.judge()
	return r
}

// roomJoinedCounts is the number of joined members per room, given the global failures.
func roomJoinedCounts(lay layout, failed []int) []int64 {
	n := make([]int64, lay.rooms)
	for r := range n {
		n[r] = int64(lay.roomSize(r))
	}
	for _, i := range failed {
		for j := 0; j < lay.k(); j++ {
			n[lay.roomOf(i, j)]--
		}
	}
	return n
}
