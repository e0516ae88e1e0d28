package driver

import (
	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

// stripSecrets returns a copy of a CSI message in which every field marked with the csi_secret option (the
// secrets maps, for example) is replaced by a placeholder, at any depth. Other values are returned as they are.
func stripSecrets(v any) any {
	m, ok := v.(proto.Message)
	if !ok || m == nil {
		return v
	}
	c := proto.Clone(m)
	stripMessage(c.ProtoReflect())
	return c
}

// redacted replaces the values of secret map entries; the keys stay, so a log shows which secrets were sent.
const redacted = "***stripped***"

func stripMessage(m protoreflect.Message) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if isSecret(fd) {
			switch {
			case fd.IsMap() && fd.MapValue().Kind() == protoreflect.StringKind:
				mp := m.Mutable(fd).Map()
				mp.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
					mp.Set(k, protoreflect.ValueOfString(redacted))
					return true
				})
			case fd.Kind() == protoreflect.StringKind && !fd.IsList():
				m.Set(fd, protoreflect.ValueOfString(redacted))
			default:
				m.Clear(fd)
			}
			return true
		}
		switch {
		case fd.IsMap():
			if fd.MapValue().Kind() == protoreflect.MessageKind {
				v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
					stripMessage(mv.Message())
					return true
				})
			}
		case fd.IsList():
			if fd.Kind() == protoreflect.MessageKind {
				l := v.List()
				for i := 0; i < l.Len(); i++ {
					stripMessage(l.Get(i).Message())
				}
			}
		case fd.Kind() == protoreflect.MessageKind:
			stripMessage(v.Message())
		}
		return true
	})
}

// isSecret reports whether a field carries the (csi.v1.csi_secret) = true option.
func isSecret(fd protoreflect.FieldDescriptor) bool {
	opts, ok := fd.Options().(*descriptorpb.FieldOptions)
	if !ok || opts == nil {
		return false
	}
	secret, _ := proto.GetExtension(opts, csi.E_CsiSecret).(bool)
	return secret
}
