package main

import "testing"

// -redis-cluster (or CHATD_REDIS_CLUSTER) selects Redis Cluster mode; it
// excludes -redis, and the reference app's REDIS_* variables do not add a
// single Redis beside it.
func TestRedisClusterFlag(t *testing.T) {
	for _, tc := range []struct {
		args         []string
		env          map[string]string
		url, cluster string
	}{
		{[]string{"-redis-cluster", "127.0.0.1:7000,127.0.0.1:7001"}, nil, "", "127.0.0.1:7000,127.0.0.1:7001"},
		{nil, map[string]string{"CHATD_REDIS_CLUSTER": "h:1", "REDIS_HOST": "redis"}, "", "h:1"},
		{nil, map[string]string{"CHATD_REDIS_CLUSTER": "redis://:pw@h:1?addr=h:2"}, "", "redis://:pw@h:1?addr=h:2"},
	} {
		o, err := parseFlags(tc.args, env(tc.env))
		if err != nil {
			t.Fatalf("%v %v: %v", tc.args, tc.env, err)
		}
		if o.redis.url != tc.url || o.redis.cluster != tc.cluster {
			t.Errorf("%v %v: url %q cluster %q", tc.args, tc.env, o.redis.url, o.redis.cluster)
		}
	}
	for _, args := range [][]string{
		{"-redis-cluster", "h:1", "-redis", "redis://h:2"},
		{"-redis-cluster", "nohostport"},
		{"-redis-cluster", " , "},
		{"-redis-cluster", "http://h:1"},
	} {
		if _, err := parseFlags(args, env(nil)); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
	if redactURL("redis://:secret@h:1?addr=h:2") == "redis://:secret@h:1?addr=h:2" {
		t.Error("password not redacted")
	}
}
