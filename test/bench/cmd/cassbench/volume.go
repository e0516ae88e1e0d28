package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/cassfs/cassfs/pkg/cassandra"
)

// runVolume times the CreateVolume equivalent (cassandra.Connect, then Cluster.CreateVolume of a fresh volume with
// the default StorageClass parameters) and deletes volumes afterwards:
//
//	cassbench volume create -id ID [-capacity BYTES]   prints results "connect" and "create_volume"
//	cassbench volume delete -id ID                      prints result "delete_volume"
//	cassbench volume blocks -id ID                      prints how many stored blocks use each codec
//
// blocks reads the chunks package's blocks table (codec and lengths only) to show how CassFS stored the
// benchmark's data, so that the raw-gocql ceiling can be run the same way.
func runVolume(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: cassbench volume create|delete -id ID")
	}
	mode := args[0]
	fl := flag.NewFlagSet("volume "+mode, flag.ContinueOnError)
	hosts := fl.String("hosts", "127.0.0.1", "Cassandra hosts, comma-separated")
	id := fl.String("id", "", "volume id")
	capacity := fl.Uint64("capacity", 0, "capacity in bytes (0: unlimited)")
	if err := fl.Parse(args[1:]); err != nil {
		return err
	}
	if err := cassandra.CheckVolumeID(*id); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	cl, err := cassandra.Connect(ctx, cassandra.ClusterConfig{Hosts: strings.Split(*hosts, ",")})
	if err != nil {
		return err
	}
	defer cl.Close()
	emit(result{Phase: "connect", Ops: 1, Seconds: time.Since(start).Seconds()})
	switch mode {
	case "create":
		spec, err := cassandra.ParseVolumeSpec(*id, *capacity, nil)
		if err != nil {
			return err
		}
		t := time.Now()
		if _, err := cl.CreateVolume(ctx, spec); err != nil {
			return err
		}
		emit(result{Phase: "create_volume", Ops: 1, Seconds: time.Since(t).Seconds()})
	case "delete":
		t := time.Now()
		if err := cl.DeleteVolume(ctx, *id); err != nil {
			return err
		}
		emit(result{Phase: "delete_volume", Ops: 1, Seconds: time.Since(t).Seconds()})
	case "blocks":
		return volumeBlocks(ctx, cl, *id)
	default:
		return errors.New("mode must be create, delete or blocks")
	}
	return nil
}

// volumeBlocks prints {"codec": C, "blocks": B, "raw_bytes": R} for each codec byte C in the blocks table of volume
// id (0 none, 1 zstd, 2 s2: see pkg/cassandra/chunks/codec.go). Only the codec and length columns are read.
func volumeBlocks(ctx context.Context, cl *cassandra.Cluster, id string) error {
	ks := cassandra.KeyspaceName(id)
	if !benchKeyspaceRE.MatchString(ks) {
		return fmt.Errorf("unexpected keyspace name %q", ks)
	}
	type agg struct {
		Codec  int8  `json:"codec"`
		Blocks int64 `json:"blocks"`
		Raw    int64 `json:"raw_bytes"`
	}
	byCodec := map[int8]*agg{}
	it := cl.Session().Query(fmt.Sprintf(`SELECT codec, rawlen FROM %s.blocks`, ks)).
		WithContext(ctx).PageSize(1000).Iter()
	var codec int8
	var raw int32
	for it.Scan(&codec, &raw) {
		a := byCodec[codec]
		if a == nil {
			a = &agg{Codec: codec}
			byCodec[codec] = a
		}
		a.Blocks++
		a.Raw += int64(raw)
	}
	if err := it.Close(); err != nil {
		return err
	}
	for _, a := range byCodec {
		b, _ := json.Marshal(map[string]*agg{"blocks": a})
		fmt.Println(string(b))
	}
	return nil
}
