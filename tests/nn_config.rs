//! The `[model]` config: parsing, defaults, shapes from the data, and clear errors for unknown
//! keys, kinds and values.

use sbgm_xla::nn::{Activation, MlpConfig, ModelConfig, PerStage};

fn parse(text: &str) -> Result<ModelConfig, String> {
    ModelConfig::from_toml(text).map_err(|e| e.to_string())
}

#[test]
fn mlp_config_reads_sbgms_names_and_defaults() {
    let c = parse("kind = \"mlp\"\nwidth_size = 256\ndepth = 3").unwrap();
    assert_eq!(
        c,
        ModelConfig::Mlp(MlpConfig {
            in_size: None,
            width_size: 256,
            depth: 3,
            q_dim: None,
            a_dim: None,
            activation: Activation::Tanh,
            dropout_p: 0.0,
            t1: 1.0,
        })
    );
    let c = parse(
        "kind = \"mlp\"\nwidth_size = 8\ndepth = 1\nactivation = \"swish\"\ndropout_p = 0.1\nt1 = 4.0",
    )
    .unwrap();
    let ModelConfig::Mlp(m) = &c else { panic!() };
    assert_eq!(m.activation, Activation::Silu);
    assert_eq!(m.t1, 4.0);
    // round trip through TOML
    let back = parse(&toml::to_string(&c).unwrap()).unwrap();
    assert_eq!(back, c);
}

#[test]
fn unet_and_dit_configs_parse_with_sbgms_defaults() {
    let c = parse(
        "kind = \"unet\"\ndim = 4\ndim_mults = [1, 2]\nattn_heads = 2\nattn_dim_head = [4, 8]\n\
         learned_sinusoidal_cond = true\nrandom_fourier_features = true\ndropout = 0.1",
    )
    .unwrap();
    let ModelConfig::Unet(u) = &c else { panic!() };
    assert_eq!(u.attn_heads.per_stage(2, "attn_heads").unwrap(), vec![2, 2]);
    assert_eq!(u.attn_dim_head, PerStage::Each(vec![4, 8]));
    assert_eq!(u.full_attn, PerStage::One(false));
    assert_eq!(u.learned_sinusoidal_dim, 16);
    assert_eq!(u.sinusoidal_pos_emb_theta, 10_000);
    assert!(
        u.attn_dim_head
            .per_stage(3, "attn_dim_head")
            .unwrap_err()
            .to_string()
            .contains("attn_dim_head")
    );
    let c = parse("kind = \"dit\"\npatch_size = 4\nembed_dim = 8\ndepth = 2\nn_heads = 2").unwrap();
    assert_eq!(c.kind(), "dit");
    let c = c.with_data(&[1, 8, 8], Some(&[2, 8, 8]), Some(3)).unwrap();
    let ModelConfig::Dit(d) = &c else { panic!() };
    assert_eq!(
        (d.img_size, d.channels, d.q_dim, d.a_dim),
        (Some(8), Some(1), Some(2), Some(3))
    );
}

#[test]
fn unknown_keys_kinds_and_values_are_named() {
    let e = parse("kind = \"mlp\"\nwidth_size = 8\ndepth = 1\nwidth = 3").unwrap_err();
    assert!(
        e.contains("unknown field `width`") && e.contains("width_size"),
        "{e}"
    );
    let e = parse("kind = \"transformer\"\nwidth_size = 8").unwrap_err();
    assert!(
        e.contains("transformer")
            && e.contains("mlp")
            && e.contains("mixer")
            && e.contains("unet")
            && e.contains("dit"),
        "{e}"
    );
    let e = parse("kind = \"mlp\"\nwidth_size = 8\ndepth = 1\nactivation = \"tanhh\"").unwrap_err();
    assert!(
        e.contains("tanhh") && e.contains("relu") && e.contains("gelu"),
        "{e}"
    );
    let e = parse("kind = \"mlp\"\ndepth = 1").unwrap_err();
    assert!(e.contains("width_size"), "{e}");
    let e = parse("width_size = 8\ndepth = 1").unwrap_err();
    assert!(e.contains("kind"), "{e}");
    let e = parse(
        "kind = \"mixer\"\npatch_size = 2\nhidden_size = 4\nmix_patch_size = 4\n\
                   mix_hidden_size = 4\nnum_blocks = 1\nembeding_dim = 8",
    )
    .unwrap_err();
    assert!(
        e.contains("embeding_dim") && e.contains("embedding_dim"),
        "{e}"
    );
}

#[test]
fn shapes_come_from_the_data_and_must_agree() {
    let c = parse("kind = \"mlp\"\nwidth_size = 8\ndepth = 1").unwrap();
    let e = c.build().err().unwrap().to_string();
    assert!(e.contains("model.in_size is not set"), "{e}");
    let net = c
        .clone()
        .with_data(&[2], Some(&[3]), None)
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(
        (net.data_shape(), net.q_shape(), net.a_dim()),
        (vec![2], Some(vec![3]), None)
    );
    let fixed = parse("kind = \"mlp\"\nwidth_size = 8\ndepth = 1\nin_size = 3\na_dim = 2").unwrap();
    let e = fixed
        .clone()
        .with_data(&[2], None, Some(2))
        .unwrap_err()
        .to_string();
    assert!(e.contains("model.in_size = 3") && e.contains("2"), "{e}");
    let e = fixed.with_data(&[3], None, None).unwrap_err().to_string();
    assert!(
        e.contains("model.a_dim = 2") && e.contains("no parameter vector a"),
        "{e}"
    );
    let m = parse(
        "kind = \"mixer\"\npatch_size = 2\nhidden_size = 4\nmix_patch_size = 4\n\
                   mix_hidden_size = 4\nnum_blocks = 1",
    )
    .unwrap();
    let e = m
        .clone()
        .with_data(&[2], None, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("(channels, height, width)"), "{e}");
    let e = m
        .clone()
        .with_data(&[1, 8, 8], Some(&[1, 4, 4]), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("q must be (channels, 8, 8)"), "{e}");
    let net = m
        .with_data(&[1, 8, 8], Some(&[2, 8, 8]), Some(5))
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(net.q_shape(), Some(vec![2, 8, 8]));
    assert_eq!(net.a_dim(), Some(5));
}

#[test]
fn bad_values_are_refused_at_build() {
    let build = |t: &str| parse(t).unwrap().build().err().map(|e| e.to_string());
    let e =
        build("kind = \"mlp\"\nwidth_size = 8\ndepth = 1\nin_size = 2\ndropout_p = 1.0").unwrap();
    assert!(e.contains("dropout_p"), "{e}");
    let e = build("kind = \"mlp\"\nwidth_size = 8\ndepth = 1\nin_size = 2\nt1 = 0.0").unwrap();
    assert!(e.contains("t1"), "{e}");
    let e = build("kind = \"mlp\"\nwidth_size = 0\ndepth = 1\nin_size = 2").unwrap();
    assert!(e.contains("width_size"), "{e}");
    let mixer = "kind = \"mixer\"\nimg_size = [1, 8, 8]\nhidden_size = 4\nmix_patch_size = 4\n\
                 mix_hidden_size = 4\nnum_blocks = 1\n";
    let e = build(&format!("{mixer}patch_size = 3")).unwrap();
    assert!(e.contains("patch_size = 3 must divide"), "{e}");
    let e = build(&format!("{mixer}patch_size = 4\nembedding_dim = 7")).unwrap();
    assert!(e.contains("embedding_dim"), "{e}");
    let e = build(
        &mixer
            .replace("[1, 8, 8]", "[8, 8]")
            .replace("num_blocks", "patch_size = 4\nnum_blocks"),
    )
    .unwrap();
    assert!(
        e.contains("img_size must be [channels, height, width]"),
        "{e}"
    );
}
