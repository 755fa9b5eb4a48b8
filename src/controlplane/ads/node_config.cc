#include "controlplane/ads/node_config.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string_view>

#include <fmt/format.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/message.h>

#include "xds/codec/resources.h"

namespace trellis::controlplane {
namespace {

using google::protobuf::Any;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

std::string deterministicBytes(const Message& message) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&coded);
  }
  return out;
}

std::unique_ptr<Message> newMessageFor(std::string_view typeUrl) {
  const auto slash = typeUrl.rfind('/');
  const std::string name(slash == std::string_view::npos ? typeUrl : typeUrl.substr(slash + 1));
  const auto* descriptor =
      google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(name);
  if (descriptor == nullptr) return nullptr;
  const Message* prototype =
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(descriptor);
  return prototype == nullptr ? nullptr : std::unique_ptr<Message>(prototype->New());
}

void canonicalizeAny(Any& any);

// Rewrites every Any inside `message` into its deterministic form, so that the outer
// deterministic serialization is canonical all the way down.
void canonicalizeNested(Message& message) {
  const auto* reflection = message.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  for (const auto* field : fields) {
    if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    auto visit = [](Message& child) {
      if (child.GetDescriptor() == Any::descriptor()) {
        canonicalizeAny(static_cast<Any&>(child));
      } else {
        canonicalizeNested(child);
      }
    };
    if (field->is_repeated()) {
      const int size = reflection->FieldSize(message, field);
      for (int i = 0; i < size; ++i) visit(*reflection->MutableRepeatedMessage(&message, field, i));
    } else {
      visit(*reflection->MutableMessage(&message, field));
    }
  }
}

void canonicalizeAny(Any& any) {
  auto message = newMessageFor(any.type_url());
  if (message == nullptr || !message->ParseFromString(any.value())) return;  // opaque: as is
  canonicalizeNested(*message);
  any.set_value(deterministicBytes(*message));
}

// FNV-1a, 64 bits: stable across runs and builds, unlike std::hash.
class Fnv64 {
 public:
  void add(std::string_view bytes) {
    addLength(bytes.size());
    for (unsigned char c : bytes) hash_ = (hash_ ^ c) * 0x100000001b3ULL;
  }
  uint64_t value() const { return hash_; }

 private:
  // Length-prefixing keeps ("ab","c") and ("a","bc") apart.
  void addLength(uint64_t n) {
    for (int i = 0; i < 8; ++i) hash_ = (hash_ ^ ((n >> (8 * i)) & 0xff)) * 0x100000001b3ULL;
  }
  uint64_t hash_ = 0xcbf29ce484222325ULL;
};

int pushRank(std::string_view type) {
  if (type == xds::kClusterType) return 0;
  if (type == xds::kEndpointType) return 1;
  if (type == xds::kListenerType) return 2;
  if (type == xds::kRouteType) return 3;
  return 4;
}

}  // namespace

std::string versionOf(const std::vector<std::pair<std::string, Any>>& resources) {
  Fnv64 hash;
  for (const auto& [name, resource] : resources) {
    hash.add(name);
    Any canonical = resource;
    canonicalizeAny(canonical);
    hash.add(canonical.type_url());
    hash.add(canonical.value());
  }
  return fmt::format("{:016x}", hash.value());
}

std::vector<std::string> inPushOrder(std::vector<std::string> types) {
  std::sort(types.begin(), types.end(), [](const std::string& a, const std::string& b) {
    const int ra = pushRank(a), rb = pushRank(b);
    return ra != rb ? ra < rb : a < b;
  });
  return types;
}

}  // namespace trellis::controlplane
