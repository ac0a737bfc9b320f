package redis

import "github.com/prometheus/client_golang/prometheus"

// collector exports the broker's counters and its publish round-trip
// histogram. The Broker is a prometheus.Collector through it, so a node
// registers it without knowing which broker it runs on.
type collector struct {
	b           *Broker
	publishTrip prometheus.Histogram
}

func newCollector(b *Broker) *collector {
	return &collector{b: b, publishTrip: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "chatd",
		Name: "redis_publish_seconds", Help: "Round trip of one pipelined batch of PUBLISH commands.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 4, 9)})}
}

func desc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc("chatd_"+name, help, nil, nil)
}

var (
	descPublished  = desc("redis_published_total", "Room events published to Redis.")
	descPubErrors  = desc("redis_publish_errors_total", "Room events that could not be published (the sender was told).")
	descTrips      = desc("redis_publish_round_trips_total", "Pipelined PUBLISH batches sent.")
	descReceived   = desc("redis_received_total", "Room events received from Redis.")
	descDropped    = desc("redis_dropped_total", "Received payloads that were not a JSON object with a type.")
	descSubscribed = desc("redis_subscribed_rooms", "Rooms this node is subscribed to now.")
	descOutages    = desc("redis_outages_total", "Times Redis became unreachable.")
	descReconnects = desc("redis_reconnects_total", "Times Redis became reachable again after an outage.")
	descReaped     = desc("redis_reaped_members_total", "Members of dead nodes this node removed.")
	descDeferred   = desc("redis_reaps_deferred_total", "Looks at a node whose heartbeat had lapsed but whose connection to Redis was active: not reaped.")
	descReconciles = desc("redis_reregistrations_total", "Re-registrations of this node's members (after start, an outage, a reap, a failover).")
	descRewritten  = desc("redis_reregistered_members_total", "Members those re-registrations wrote again because Redis did not list them for this node.")
	descUp         = desc("redis_up", "1 when Redis is reachable (publish and subscribe sides).")
	descStored     = desc("redis_stored_total", "Messages stored in a room's history (and published).")
	descHistReads  = desc("redis_history_reads_total", "History reads: hole fills, joins with history or since, paging.")
	descGapsFilled = desc("redis_gaps_filled_total", "Holes in a room's delivered offsets filled from the history.")
	descFilled     = desc("redis_gap_messages_filled_total", "Messages delivered by those fills.")
	descUnfilled   = desc("redis_gaps_unfilled_total", "Holes the history no longer covered (the room's members were told to resync).")
	descDupes      = desc("redis_duplicates_dropped_total", "Stored events dropped as already delivered.")
	descEpochs     = desc("redis_epoch_changes_total", "Rooms whose history started a new epoch under this node (members told to resync).")
	descPlaced     = desc("redis_joins_placed_total", "Joins placed where the announcement their script published passed this node: the joiner hears of exactly the changes after its own.")
	descLate       = desc("redis_join_notices_late_total", "Joins whose script's announcement did not pass this node within 1 s (the default wait) of the reply (Pub/Sub dropped it): answered unplaced.")
	descFull       = desc("redis_storage_full_total", "Writes Redis refused at maxmemory (noeviction): publishes, joins, epochs; the clients were told (storage_full).")
	descHistAdded  = desc("redis_history_stored_bytes_total", "Bytes of history entries this node stored (each message's payload plus 14).")
	descHistCut    = desc("redis_history_trimmed_total", "History entries the store script trimmed to keep a room within -history-size and -history-room-bytes.")
	descHistCutB   = desc("redis_history_trimmed_bytes_total", "Bytes of those entries.")
	descHistBytes  = prometheus.NewDesc("chatd_history_bytes", "Redis memory held by room histories, all masters, estimated from a sample of random keys (MEMORY USAGE x DBSIZE, README); -1 before the first sample.", nil, nil)
	descLoads      = desc("redis_script_reloads_total", "Store script calls sent again in full after NOSCRIPT (a restarted Redis or a new master).")

	// Redis Cluster mode (zero with one Redis).
	descRedirects = desc("redis_redirects_total", "Writes sent again after MOVED, ASK, TRYAGAIN or CLUSTERDOWN, or held for a slot with no known master (they had not run).")
	descFailovers = desc("redis_failovers_total", "Slot map changes where a Redis master was replaced by its replica.")
	descMoved     = desc("redis_moved_rooms_total", "Room subscriptions moved to another master (failover, slot migration).")
	descMasters   = desc("redis_masters", "Redis masters this node has a subscriber connection to.")
)

// Describe implements prometheus.Collector.
func (b *Broker) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPublished, descPubErrors, descTrips, descReceived, descDropped,
		descSubscribed, descOutages, descReconnects, descReaped, descDeferred, descReconciles, descRewritten, descUp, descStored, descHistReads, descGapsFilled,
		descFilled, descUnfilled, descDupes, descEpochs, descPlaced, descLate, descFull, descLoads, descHistAdded, descHistCut, descHistCutB, descHistBytes, descRedirects, descFailovers, descMoved, descMasters} {
		ch <- d
	}
	b.metrics.publishTrip.Describe(ch)
}

// Collect implements prometheus.Collector.
func (b *Broker) Collect(ch chan<- prometheus.Metric) {
	st := b.Stats()
	count := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	count(descPublished, st.Published)
	count(descPubErrors, st.PublishFailed)
	count(descTrips, st.PublishTrips)
	count(descReceived, st.Received)
	count(descDropped, st.Dropped)
	count(descOutages, st.Outages)
	count(descReconnects, st.Reconnects)
	count(descReaped, st.Reaped)
	count(descDeferred, st.ReapsDeferred)
	count(descReconciles, st.Reconciles)
	count(descRewritten, st.Reregistered)
	count(descStored, st.Stored)
	count(descHistReads, st.HistoryReads)
	count(descGapsFilled, st.GapsFilled)
	count(descFilled, st.Filled)
	count(descUnfilled, st.GapsUnfilled)
	count(descDupes, st.Duplicates)
	count(descEpochs, st.EpochChanges)
	count(descPlaced, st.JoinsPlaced)
	count(descLate, st.NoticesLate)
	count(descFull, st.StorageFull)
	count(descLoads, st.ScriptLoads)
	count(descHistAdded, st.HistoryAdded)
	count(descHistCut, st.HistoryTrimmed)
	count(descHistCutB, st.HistoryCutBytes)
	ch <- prometheus.MustNewConstMetric(descHistBytes, prometheus.GaugeValue, b.historyBytes())
	count(descRedirects, st.Redirects)
	count(descFailovers, st.Failovers)
	count(descMoved, st.MovedRooms)
	ch <- prometheus.MustNewConstMetric(descMasters, prometheus.GaugeValue, float64(st.Masters))
	ch <- prometheus.MustNewConstMetric(descSubscribed, prometheus.GaugeValue, float64(st.Subscribed))
	up := 0.0
	if b.Healthy() {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, up)
	b.metrics.publishTrip.Collect(ch)
}
