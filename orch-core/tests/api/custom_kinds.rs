//! An embedder-defined kind (the CRD equivalent) works like a built-in one.

use super::*;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GameServer {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    kind: String,
    #[serde(default)]
    metadata: ObjectMeta,
    #[serde(default)]
    spec: GameServerSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<GameServerStatus>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GameServerSpec {
    map: String,
    max_players: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GameServerStatus {
    players: u32,
}

fn game_server_fields(gs: &GameServer, path: &str) -> Option<String> {
    (path == "spec.map").then(|| gs.spec.map.clone())
}

fn validate_game_server(gs: &GameServer, errors: &mut orch_core::validation::FieldErrors) {
    if gs.spec.max_players == 0 {
        errors.push("spec.maxPlayers", "must be at least 1");
    }
}

impl_resource!(GameServer {
    group: "games.example.com",
    version: "v1",
    kind: "GameServer",
    plural: "gameservers",
    namespaced: true,
    status_subresource: true,
    fields: game_server_fields,
    validate: validate_game_server,
});

#[tokio::test]
async fn embedder_defined_kinds_work_like_built_in_ones() {
    let store = Arc::new(MemStore::new());
    let api: Api<GameServer> = Api::namespaced(store.clone(), "games");
    let gs = GameServer {
        metadata: ObjectMeta::named("arena-1"),
        spec: GameServerSpec { map: "dust".into(), max_players: 16 },
        ..Default::default()
    };
    let created = api.create(&gs).await.unwrap();
    assert_eq!(created.api_version, "games.example.com/v1");
    let raw = store
        .range(RangeRequest::new(KeyRange::key(
            "/registry/games.example.com/gameservers/games/arena-1",
        )))
        .await
        .unwrap();
    assert_eq!(raw.count, 1);

    let mut status = created.clone();
    status.status = Some(GameServerStatus { players: 3 });
    api.replace_status(&status).await.unwrap();
    assert_eq!(api.get("arena-1").await.unwrap().status, Some(GameServerStatus { players: 3 }));

    let on_dust = api.list(&ListParams::default().fields("spec.map=dust")).await.unwrap();
    assert_eq!(on_dust.items.len(), 1);

    let empty = GameServer { metadata: ObjectMeta::named("arena-2"), ..Default::default() };
    assert!(
        matches!(api.create(&empty).await, Err(Error::Invalid { ref field, .. }) if field == "spec.maxPlayers")
    );

    // Manifests can name it once registered.
    let mut registry = orch_core::manifest::Registry::builtin();
    registry.register::<GameServer>();
    let docs = orch_core::manifest::parse(
        "apiVersion: games.example.com/v1\nkind: GameServer\nmetadata: {name: arena-3}\nspec: {map: mirage, maxPlayers: 10}\n",
        &registry,
    )
    .unwrap();
    let parsed: GameServer = docs[0].parse().unwrap();
    assert_eq!(parsed.spec.max_players, 10);
    assert_eq!(GameServer::api_resource().plural, "gameservers");
}
