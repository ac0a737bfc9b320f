package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
)

// printTable prints a Markdown table: one row per attack, one column per
// label (in the order first seen, "before" first), each cell the summary.
func printTable(files []string) error {
	rows := map[string]map[string]result{}
	var labels []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var r result
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		if rows[r.Attack] == nil {
			rows[r.Attack] = map[string]result{}
		}
		rows[r.Attack][r.Label] = r
		if !slices.Contains(labels, r.Label) {
			labels = append(labels, r.Label)
		}
	}
	slices.SortStableFunc(labels, func(a, b string) int { return rank(a) - rank(b) })
	fmt.Printf("| attack | %s |\n|---|%s\n", strings.Join(labels, " | "), strings.Repeat("---|", len(labels)))
	var attacksSeen []string
	for a := range rows {
		attacksSeen = append(attacksSeen, a)
	}
	slices.Sort(attacksSeen)
	for _, a := range attacksSeen {
		cells := []string{a}
		for _, l := range labels {
			r, ok := rows[a][l]
			switch {
			case !ok:
				cells = append(cells, "—")
			case r.ErrorMsg != "":
				cells = append(cells, "FAILED: "+r.ErrorMsg+" "+r.Summary)
			default:
				cells = append(cells, r.Summary)
			}
		}
		fmt.Printf("| %s |\n", strings.ReplaceAll(strings.Join(cells, " | "), "\n", " "))
	}
	return nil
}

func rank(label string) int {
	switch {
	case label == "before":
		return 0
	case label == "after":
		return 1
	default:
		return 2
	}
}
