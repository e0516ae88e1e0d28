package driver

import (
	"context"
	"time"

	"google.golang.org/grpc/status"
)

// restore mounts again what the state file says was staged and published before this process started: the FUSE
// servers of the old process are gone, so its mounts are dead. Each staging path is mounted afresh and each
// target is bound to it again. Volumes that fail (storage down) are retried with backoff until they succeed, are
// unstaged by the CO, or ctx ends.
//
// With a Stager that can resume (Resumer: a connection keeper held the mounts), the old mounts are served again
// in place and nothing is remounted; applications see a pause. Otherwise:
// a container that already has the old target in its mount namespace sees the new mount only when the pod uses
// mountPropagation HostToContainer; otherwise the pod must be restarted (see docs/driver-parameters.md).
func (n *node) restore(ctx context.Context) {
	pending := n.state.all()
	delay := time.Second
	for len(pending) > 0 {
		var failed []stagedVolume
		for _, v := range pending {
			if err := n.restoreOne(ctx, v); err != nil {
				n.log.Warn("restore staged volume failed; will retry", "volume", v.VolumeID, "path", v.StagingPath, "err", err)
				failed = append(failed, v)
			}
		}
		pending = failed
		if len(pending) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, time.Minute)
	}
}

// restoreOne remounts one staged volume and its targets, under the volume's lock. A volume that was unstaged
// meanwhile is skipped.
func (n *node) restoreOne(ctx context.Context, v stagedVolume) error {
	for !n.locks.tryAcquire(volumeKey(v.VolumeID)) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	defer n.locks.release(volumeKey(v.VolumeID))
	cur, ok := n.state.get(v.StagingPath)
	if !ok || cur.VolumeID != v.VolumeID {
		return nil
	}
	if r, ok := n.stager.(Resumer); ok && !n.serves(ctx, cur.StagingPath) {
		// First, before anything looks at the mount: stat(2) of a kept mount waits until a server answers.
		resumed, err := r.Resume(ctx, StageRequest{VolumeID: cur.VolumeID, Dir: cur.StagingPath, Cred: cur.Cred,
			ReadOnly: cur.ReadOnly, Sharing: cur.Sharing, Context: cur.Context})
		if err != nil {
			return err
		}
		if resumed {
			n.log.Info("resumed staged volume", "volume", cur.VolumeID, "path", cur.StagingPath)
		}
	}
	restaged := false
	if st, err := n.mountStatus(cur.StagingPath); err != nil || st != mounted || !n.serves(ctx, cur.StagingPath) {
		if err := n.stage(ctx, cur); err != nil {
			return err
		}
		restaged = true
		n.log.Info("restored staged volume", "volume", cur.VolumeID, "path", cur.StagingPath)
	}
	for path, t := range cur.Targets {
		if err := n.restoreTarget(cur.StagingPath, path, t, restaged); err != nil {
			return err
		}
	}
	return nil
}

// restoreTarget binds one recorded target to the staging mount, under the target's lock. A live target is bound
// again only when the staging mount is new (it then still shows the old, dead filesystem); a target the CO
// removed, or unpublished meanwhile, is left alone.
func (n *node) restoreTarget(dir, path string, t target, restaged bool) error {
	if !n.locks.tryAcquire(targetKey(path)) {
		return nil
	}
	defer n.locks.release(targetKey(path))
	if v, ok := n.state.get(dir); !ok {
		return nil
	} else if _, ok := v.Targets[path]; !ok {
		return nil
	}
	st, err := n.mountStatus(path)
	switch {
	case err != nil:
		return err
	case st == absent, st == mounted && !restaged:
		return nil
	case st == mounted:
		if err := n.unmountAll(path); err != nil {
			return err
		}
	}
	if err := n.bind(dir, path, t); err != nil {
		return status.Convert(err).Err()
	}
	n.log.Info("restored published volume", "staging", dir, "target", path)
	return nil
}

// serves reports whether this process's Stager serves dir.
func (n *node) serves(ctx context.Context, dir string) bool {
	_, err := n.stager.Usage(ctx, dir)
	return err == nil
}
