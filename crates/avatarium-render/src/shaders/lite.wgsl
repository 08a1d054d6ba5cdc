// A cheap shading for software rendering: Bevy's PBR fragment path costs
// about a microsecond per pixel on llvmpipe; a head-and-shoulders shot
// needs only a key, a fill, a rim and a soft highlight.
#import bevy_pbr::forward_io::VertexOutput
#import bevy_pbr::mesh_view_bindings::view

struct Lite {
    color: vec4<f32>,
    shine: f32,
    has_texture: u32,
}

@group(#{MATERIAL_BIND_GROUP}) @binding(0) var<uniform> lite: Lite;
@group(#{MATERIAL_BIND_GROUP}) @binding(1) var base_texture: texture_2d<f32>;
@group(#{MATERIAL_BIND_GROUP}) @binding(2) var base_sampler: sampler;

const KEY: vec3<f32> = vec3<f32>(-0.45, 0.6, 0.66);
const FILL: vec3<f32> = vec3<f32>(0.73, 0.16, 0.65);

@fragment
fn fragment(in: VertexOutput) -> @location(0) vec4<f32> {
    var base = lite.color;
#ifdef VERTEX_UVS_A
    if lite.has_texture != 0u {
        base = base * textureSample(base_texture, base_sampler, in.uv);
    }
#endif
    let n = normalize(in.world_normal);
    let v = normalize(view.world_position.xyz - in.world_position.xyz);
    let key = max(dot(n, normalize(KEY)), 0.0);
    let fill = max(dot(n, normalize(FILL)), 0.0);
    let wrap = 0.5 + 0.5 * dot(n, vec3<f32>(0.0, 1.0, 0.0));
    let diffuse = 0.3 + 0.18 * wrap + 0.7 * key + 0.25 * fill;
    let rim = pow(1.0 - max(dot(n, v), 0.0), 3.0) * 0.3;
    let spec = pow(max(dot(n, normalize(normalize(KEY) + v)), 0.0), 48.0) * 0.25 * lite.shine;
    let rgb = base.rgb * diffuse + base.rgb * rim + vec3<f32>(spec);
    return vec4<f32>(rgb, base.a);
}
