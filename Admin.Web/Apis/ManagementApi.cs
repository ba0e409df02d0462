using System.Security.Claims;
using System.Text.Json;
using Beacon.Admin.Management;
using Beacon.Admin.Privacy;
using Beacon.Admin.Security;
using Beacon.Core.Data;
using Beacon.Core.DeadLetters;
using Beacon.Core.Quarantine;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace Beacon.Admin.Apis;

/// <summary>
/// The JSON management API (<c>/api/admin/v1</c>) for automation. Authenticated by API keys; the group's
/// policy runs the same store-membership handler as the pages, so a handler here only has to look entities
/// up with the route's store id.
/// </summary>
public static class ManagementApi
{
    public static RouteGroupBuilder MapManagementApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/admin/v1")
            .RequireAuthorization(AdminPolicies.ManagementApi)
            .WithTags("Management")
            .DisableAntiforgery();

        api.MapGet("/stores", ListStores);
        api.MapPost("/stores", CreateStore);
        api.MapGet("/stores/{storeId:guid}", GetStore);
        api.MapDelete("/stores/{storeId:guid}", DeleteStore);
        api.MapPut("/stores/{storeId:guid}/allowed-private-networks", SetAllowedPrivateNetworks);
        api.MapPut("/stores/{storeId:guid}/retention", SetRetention);

        api.MapGet("/stores/{storeId:guid}/tokens", ListTokens);
        api.MapPost("/stores/{storeId:guid}/tokens", CreateToken);
        api.MapGet("/stores/{storeId:guid}/tokens/{tokenId:guid}", GetToken);
        api.MapPost("/stores/{storeId:guid}/tokens/{tokenId:guid}/revoke", RevokeToken);
        api.MapDelete("/stores/{storeId:guid}/tokens/{tokenId:guid}", DeleteToken);

        api.MapGet("/stores/{storeId:guid}/pipelines", ListPipelines);
        api.MapPost("/stores/{storeId:guid}/pipelines", CreatePipeline);
        api.MapGet("/stores/{storeId:guid}/pipelines/{pipelineId:guid}", GetPipeline);
        api.MapPut("/stores/{storeId:guid}/pipelines/{pipelineId:guid}", UpdatePipeline);
        api.MapDelete("/stores/{storeId:guid}/pipelines/{pipelineId:guid}", DeletePipeline);
        api.MapPost("/stores/{storeId:guid}/pipelines/{pipelineId:guid}/rotate-secret", RotateSecret);
        api.MapPost("/stores/{storeId:guid}/pipelines/{pipelineId:guid}/test", SendTestEvent);
        api.MapGet("/stores/{storeId:guid}/pipelines/{pipelineId:guid}/deliveries", GetDeliveries);

        api.MapGet("/stores/{storeId:guid}/pipelines/{pipelineId:guid}/dead-letters", ListDeadLetters);
        api.MapPost("/stores/{storeId:guid}/pipelines/{pipelineId:guid}/dead-letters/replay", ReplayDeadLetters);
        api.MapPost("/stores/{storeId:guid}/pipelines/{pipelineId:guid}/dead-letters/discard", DiscardDeadLetters);

        api.MapGet("/stores/{storeId:guid}/pipelines/{pipelineId:guid}/attempts", ListAttempts);
        api.MapPost("/stores/{storeId:guid}/pipelines/{pipelineId:guid}/replay", ReplayWindow);
        api.MapGet("/stores/{storeId:guid}/pipelines/{pipelineId:guid}/replays", ListReplays);
        api.MapGet("/stores/{storeId:guid}/replays/{replayId:guid}", GetReplay);

        api.MapGet("/stores/{storeId:guid}/events/{eventId}", GetEventTrace);
        api.MapGet("/stores/{storeId:guid}/dropped-events", GetDroppedEvents);

        api.MapPost("/stores/{storeId:guid}/deletions", RequestDeletion);
        api.MapGet("/stores/{storeId:guid}/deletions", ListDeletions);
        api.MapGet("/stores/{storeId:guid}/deletions/{deletionId:guid}", GetDeletion);
        api.MapPost("/stores/{storeId:guid}/deletions/{deletionId:guid}/lift", LiftSuppression);

        api.MapGet("/users", ListUsers);
        api.MapPost("/users/{userId}/lock", LockUser);
        api.MapPost("/users/{userId}/unlock", UnlockUser);
        api.MapPost("/users/{userId}/reset-password", ResetPassword);

        api.MapGet("/stores/{storeId:guid}/quarantine", ListQuarantine);
        api.MapPost("/stores/{storeId:guid}/quarantine/{entryId:long}/replay", ReplayQuarantined);
        api.MapDelete("/stores/{storeId:guid}/quarantine/{entryId:long}", DiscardQuarantined);

        return api;
    }

    public static async Task<Ok<List<StoreDto>>> ListStores(ClaimsPrincipal user, StoreService stores, CancellationToken cancellationToken) =>
        TypedResults.Ok((await stores.ListVisibleAsync(user, cancellationToken)).Select(StoreDto.Of).ToList());

    public static async Task<Results<Created<StoreDto>, ProblemHttpResult, ValidationProblem>> CreateStore(
        CreateStoreRequest request, ClaimsPrincipal user, StoreService stores, CancellationToken cancellationToken)
    {
        if (!user.IsOperator())
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Only operators create stores");
        }
        if (string.IsNullOrWhiteSpace(request.Name) || request.Name.Length > 200)
        {
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["name"] = ["A store needs a name of 1 to 200 characters."] });
        }
        var store = await stores.CreateAsync(request.Name, cancellationToken);
        return TypedResults.Created($"/api/admin/v1/stores/{store.Id}", StoreDto.Of(store));
    }

    /// <summary>
    /// Operators only: the private networks this store's webhooks may reach (<c>null</c> returns the store to the
    /// operator's default), within the operator's upper bound <c>Delivery__AllowedPrivateNetworks</c>.
    /// </summary>
    public static async Task<Results<Ok<StoreDto>, ProblemHttpResult, ValidationProblem, NotFound<ProblemDetails>>> SetAllowedPrivateNetworks(
        Guid storeId, AllowedPrivateNetworksRequest request, ClaimsPrincipal user, StoreService stores, CancellationToken cancellationToken)
    {
        if (!user.IsOperator())
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Only operators set the networks a store may reach");
        }
        var result = await stores.SetAllowedPrivateNetworksAsync(storeId, request.Networks, cancellationToken);
        if (result.Errors.Count > 0)
        {
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["networks"] = [.. result.Errors] });
        }
        return result.Store is { } store ? TypedResults.Ok(StoreDto.Of(store)) : NotFound("store");
    }

    /// <summary>Operators only: days the store's events (<c>eventDays</c>) and dead letters (<c>deadLetterDays</c>) are kept; null for the defaults 90 and 30.</summary>
    public static async Task<Results<Ok<StoreDto>, ProblemHttpResult, ValidationProblem, NotFound<ProblemDetails>>> SetRetention(
        Guid storeId, RetentionRequest request, ClaimsPrincipal user, StoreService stores, CancellationToken cancellationToken)
    {
        if (!user.IsOperator())
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Only operators set a store's retention");
        }
        if (StoreService.ValidateRetention(request.EventDays, request.DeadLetterDays) is { Count: > 0 } errors)
        {
            return TypedResults.ValidationProblem(errors);
        }
        return await stores.SetRetentionAsync(storeId, request.EventDays, request.DeadLetterDays, cancellationToken) is { } store
            ? TypedResults.Ok(StoreDto.Of(store))
            : NotFound("store");
    }

    public static async Task<Results<Ok<StoreDto>, NotFound<ProblemDetails>>> GetStore(Guid storeId, StoreService stores, CancellationToken cancellationToken) =>
        await stores.FindAsync(storeId, cancellationToken) is { } store ? TypedResults.Ok(StoreDto.Of(store)) : NotFound("store");

    /// <summary>
    /// Operators only: deletes the store at once (its tokens stop working within a second) and its event data in the
    /// background; the answer names the deletion to follow (<c>GET …/stores/{storeId}/deletions/{id}</c>).
    /// </summary>
    public static async Task<Results<Accepted<DeletionAccepted>, ProblemHttpResult, NotFound<ProblemDetails>>> DeleteStore(
        Guid storeId, ClaimsPrincipal user, DeletionService deletions, CancellationToken cancellationToken)
    {
        if (!user.IsOperator())
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Only operators delete stores");
        }
        return await deletions.DeleteStoreAsync(storeId, user, cancellationToken) is { } deletion
            ? TypedResults.Accepted($"/api/admin/v1/stores/{storeId}/deletions/{deletion.Id}", new DeletionAccepted(deletion.Id))
            : NotFound("store");
    }

    public static async Task<Results<NoContent, NotFound<ProblemDetails>>> DeleteToken(
        Guid storeId, Guid tokenId, TokenService tokens, CancellationToken cancellationToken) =>
        await tokens.DeleteAsync(storeId, tokenId, cancellationToken) ? TypedResults.NoContent() : NotFound("token");

    public static async Task<Results<NoContent, NotFound<ProblemDetails>>> DeletePipeline(
        Guid storeId, Guid pipelineId, PipelineService pipelines, CancellationToken cancellationToken) =>
        await pipelines.DeleteAsync(storeId, pipelineId, cancellationToken) ? TypedResults.NoContent() : NotFound("pipeline");

    /// <summary>
    /// Deletes one shopper's events of the store everywhere Beacon keeps them, in the background: <c>202 {"id"}</c>.
    /// With <c>"suppress": true</c> the identifier's new events are dropped until the suppression is lifted.
    /// </summary>
    public static async Task<Results<Accepted<DeletionAccepted>, ValidationProblem, NotFound<ProblemDetails>>> RequestDeletion(
        Guid storeId, DeletionRequest request, ClaimsPrincipal user, StoreService stores, DeletionService deletions,
        CancellationToken cancellationToken)
    {
        if (await stores.FindAsync(storeId, cancellationToken) is null)
        {
            return NotFound("store");
        }
        var identifiers = request.Identifiers();
        if (DeletionService.Validate(identifiers) is { Count: > 0 } errors)
        {
            return TypedResults.ValidationProblem(errors);
        }
        var (field, value) = identifiers.Single(i => !string.IsNullOrEmpty(i.Value));
        var deletion = await deletions.RequestAsync(storeId, field, value!, request.Suppress ?? false, user, cancellationToken);
        return TypedResults.Accepted($"/api/admin/v1/stores/{storeId}/deletions/{deletion.Id}", new DeletionAccepted(deletion.Id));
    }

    public static async Task<Ok<List<DeletionDto>>> ListDeletions(
        Guid storeId, DeletionService deletions, CancellationToken cancellationToken, int limit = 100) =>
        TypedResults.Ok((await deletions.ListAsync(storeId, limit, cancellationToken)).Select(DeletionDto.Of).ToList());

    public static async Task<Results<Ok<DeletionDto>, NotFound<ProblemDetails>>> GetDeletion(
        Guid storeId, Guid deletionId, DeletionService deletions, CancellationToken cancellationToken) =>
        await deletions.FindAsync(storeId, deletionId, cancellationToken) is { } deletion ? TypedResults.Ok(DeletionDto.Of(deletion)) : NotFound("deletion");

    /// <summary>Ends the deletion's suppression: the identifier's new events are delivered again (a no-op when none is active).</summary>
    public static async Task<Results<Ok<DeletionDto>, NotFound<ProblemDetails>>> LiftSuppression(
        Guid storeId, Guid deletionId, ClaimsPrincipal user, DeletionService deletions, CancellationToken cancellationToken) =>
        await deletions.LiftAsync(storeId, deletionId, user, cancellationToken) is { } deletion ? TypedResults.Ok(DeletionDto.Of(deletion)) : NotFound("deletion");

    public static async Task<Ok<List<TokenDto>>> ListTokens(Guid storeId, TokenService tokens, CancellationToken cancellationToken) =>
        TypedResults.Ok((await tokens.ListAsync(storeId, cancellationToken)).Select(TokenDto.Of).ToList());

    public static async Task<Results<Created<CreatedTokenDto>, ValidationProblem, NotFound<ProblemDetails>, ProblemHttpResult>> CreateToken(
        Guid storeId, CreateTokenRequest request, StoreService stores, TokenService tokens, CancellationToken cancellationToken)
    {
        if (await stores.FindAsync(storeId, cancellationToken) is null)
        {
            return NotFound("store");
        }
        var input = new TokenInput(request.Name ?? "", request.AllowedOrigins ?? [], request.RateLimitPerMinute, request.RateLimitPerIpPerMinute);
        if (TokenService.Validate(input) is { Count: > 0 } errors)
        {
            return TypedResults.ValidationProblem(errors);
        }
        try
        {
            var created = await tokens.CreateAsync(storeId, input, cancellationToken);
            return TypedResults.Created($"/api/admin/v1/stores/{storeId}/tokens/{created.Entity.Id}", CreatedTokenDto.Of(created));
        }
        catch (StoreQuotaExceededException ex)
        {
            return QuotaExceeded(ex);
        }
    }

    public static async Task<Results<Ok<TokenDto>, NotFound<ProblemDetails>>> GetToken(
        Guid storeId, Guid tokenId, TokenService tokens, CancellationToken cancellationToken) =>
        await tokens.FindAsync(storeId, tokenId, cancellationToken) is { } token ? TypedResults.Ok(TokenDto.Of(token)) : NotFound("token");

    public static async Task<Results<NoContent, NotFound<ProblemDetails>>> RevokeToken(
        Guid storeId, Guid tokenId, TokenService tokens, CancellationToken cancellationToken) =>
        await tokens.RevokeAsync(storeId, tokenId, cancellationToken) ? TypedResults.NoContent() : NotFound("token");

    public static async Task<Ok<List<PipelineDto>>> ListPipelines(Guid storeId, PipelineService pipelines, CancellationToken cancellationToken) =>
        TypedResults.Ok((await pipelines.ListAsync(storeId, cancellationToken)).Select(PipelineDto.Of).ToList());

    public static async Task<Results<Created<CreatedPipelineDto>, ValidationProblem, NotFound<ProblemDetails>, ProblemHttpResult>> CreatePipeline(
        Guid storeId, PipelineRequest request, StoreService stores, PipelineService pipelines, CancellationToken cancellationToken)
    {
        if (await stores.FindAsync(storeId, cancellationToken) is not { } store)
        {
            return NotFound("store");
        }
        var input = request.ToInput();
        if (pipelines.Validate(input, store) is { Count: > 0 } errors)
        {
            return TypedResults.ValidationProblem(errors);
        }
        try
        {
            var created = await pipelines.CreateAsync(storeId, input, cancellationToken);
            return TypedResults.Created($"/api/admin/v1/stores/{storeId}/pipelines/{created.Entity.Id}",
                new CreatedPipelineDto(PipelineDto.Of(created.Entity), created.Secret));
        }
        catch (StoreQuotaExceededException ex)
        {
            return QuotaExceeded(ex);
        }
    }

    public static async Task<Results<Ok<PipelineDto>, NotFound<ProblemDetails>>> GetPipeline(
        Guid storeId, Guid pipelineId, PipelineService pipelines, CancellationToken cancellationToken) =>
        await pipelines.FindAsync(storeId, pipelineId, cancellationToken) is { } pipeline ? TypedResults.Ok(PipelineDto.Of(pipeline)) : NotFound("pipeline");

    public static async Task<Results<Ok<PipelineDto>, ValidationProblem, NotFound<ProblemDetails>>> UpdatePipeline(
        Guid storeId, Guid pipelineId, PipelineRequest request, StoreService stores, PipelineService pipelines, CancellationToken cancellationToken)
    {
        if (await stores.FindAsync(storeId, cancellationToken) is not { } store)
        {
            return NotFound("store");
        }
        var input = request.ToInput();
        if (pipelines.Validate(input, store) is { Count: > 0 } errors)
        {
            return TypedResults.ValidationProblem(errors);
        }
        return await pipelines.UpdateAsync(storeId, pipelineId, input, cancellationToken) is { } pipeline
            ? TypedResults.Ok(PipelineDto.Of(pipeline))
            : NotFound("pipeline");
    }

    public static async Task<Results<Ok<CreatedPipelineDto>, NotFound<ProblemDetails>>> RotateSecret(
        Guid storeId, Guid pipelineId, PipelineService pipelines, CancellationToken cancellationToken) =>
        await pipelines.RotateSecretAsync(storeId, pipelineId, cancellationToken) is { } rotated
            ? TypedResults.Ok(new CreatedPipelineDto(PipelineDto.Of(rotated.Entity), rotated.Secret))
            : NotFound("pipeline");

    /// <summary>
    /// Sends a made-up <c>page_view</c>, or with <c>{"event": {...}}</c> one event as <c>POST /beacon</c> takes it (400
    /// with the reason ingestion would drop it for), or with <c>{"eventIds": [...]}</c> (at most 20) those real events
    /// of the store from the archive, or with <c>{"recent": N}</c> its N newest; answers with the request as sent and
    /// the destination's answer.
    /// </summary>
    public static async Task<Results<Ok<TestEventResult>, NotFound<ProblemDetails>, ProblemHttpResult, ValidationProblem>> SendTestEvent(
        Guid storeId, Guid pipelineId, [FromBody] TestEventRequest? request, StoreService stores, PipelineService pipelines, PipelineTester tester,
        ArchivedEvents archive, CancellationToken cancellationToken)
    {
        if (await stores.FindAsync(storeId, cancellationToken) is not { } store
            || await pipelines.FindAsync(storeId, pipelineId, cancellationToken) is not { } pipeline)
        {
            return NotFound("pipeline");
        }
        if (pipeline.Kind != PipelineKinds.Webhook)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status409Conflict, title: "Only webhook pipelines can be sent a test event");
        }
        if (request?.Event is { ValueKind: not JsonValueKind.Undefined } pastedJson)
        {
            var (pasted, error) = tester.Pasted(pipeline, pastedJson.GetRawText());
            return pasted is null
                ? TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["event"] = [error!] })
                : TypedResults.Ok(await tester.SendEventsAsync(pipeline, store, [pasted], cancellationToken));
        }
        if (request?.EventIds is { Count: > 0 } || request?.Recent is > 0)
        {
            if (request.EventIds is { Count: > 20 } || request.Recent is > 20)
            {
                return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["eventIds"] = ["At most 20 events per test."] });
            }
            var events = request.EventIds is { Count: > 0 } ids
                ? await archive.FindAsync(storeId, ids, cancellationToken)
                : await archive.RecentAsync(storeId, request.Recent!.Value, cancellationToken);
            if (events.Count == 0)
            {
                return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["eventIds"] = ["None of these events is in the archive."] });
            }
            return TypedResults.Ok(await tester.SendEventsAsync(pipeline, store, events, cancellationToken));
        }
        return TypedResults.Ok(await tester.SendAsync(pipeline, store, cancellationToken));
    }

    public static async Task<Results<Ok<DeliverySeries>, NotFound<ProblemDetails>>> GetDeliveries(
        Guid storeId, Guid pipelineId, DeliveryQueries deliveries, CancellationToken cancellationToken, int hours = 24)
    {
        var series = await deliveries.SeriesAsync(storeId, pipelineId, TimeSpan.FromHours(Math.Clamp(hours, 1, 24 * 7)), cancellationToken);
        return series is [var one] ? TypedResults.Ok(one) : NotFound("pipeline");
    }

    public static async Task<Results<Ok<List<DeadLetterDto>>, NotFound<ProblemDetails>>> ListDeadLetters(
        Guid storeId, Guid pipelineId, PipelineService pipelines, DeadLetterQueries deadLetters, CancellationToken cancellationToken,
        string? eventType = null, int? status = null, DateTimeOffset? from = null, DateTimeOffset? to = null, int limit = 100)
    {
        if (await pipelines.FindAsync(storeId, pipelineId, cancellationToken) is null)
        {
            return NotFound("pipeline");
        }
        var list = await deadLetters.ListAsync(pipelineId, new DeadLetterFilter(eventType, status, from, to, limit), cancellationToken);
        return TypedResults.Ok(list.Select(DeadLetterDto.Of).ToList());
    }

    public static Task<Results<Ok<DeadLetterActionResult>, ValidationProblem, NotFound<ProblemDetails>>> ReplayDeadLetters(
        Guid storeId, Guid pipelineId, DeadLetterSelection selection, PipelineService pipelines, DeadLetterService service,
        ChangeNotifier notifier, CancellationToken cancellationToken) =>
        ActOnDeadLettersAsync(storeId, pipelineId, selection, pipelines, notifier,
            ids => service.ReplayAsync(pipelineId, ids, cancellationToken),
            (from, to) => service.ReplayRangeAsync(pipelineId, from, to, cancellationToken), cancellationToken);

    public static Task<Results<Ok<DeadLetterActionResult>, ValidationProblem, NotFound<ProblemDetails>>> DiscardDeadLetters(
        Guid storeId, Guid pipelineId, DeadLetterSelection selection, PipelineService pipelines, DeadLetterService service,
        ChangeNotifier notifier, CancellationToken cancellationToken) =>
        ActOnDeadLettersAsync(storeId, pipelineId, selection, pipelines, notifier,
            ids => service.DiscardAsync(pipelineId, ids, cancellationToken),
            (from, to) => service.DiscardRangeAsync(pipelineId, from, to, cancellationToken), cancellationToken);

    private static async Task<Results<Ok<DeadLetterActionResult>, ValidationProblem, NotFound<ProblemDetails>>> ActOnDeadLettersAsync(
        Guid storeId, Guid pipelineId, DeadLetterSelection selection, PipelineService pipelines, ChangeNotifier notifier,
        Func<long[], Task<int>> byIds, Func<DateTimeOffset, DateTimeOffset, Task<int>> byRange, CancellationToken cancellationToken)
    {
        if (await pipelines.FindAsync(storeId, pipelineId, cancellationToken) is null)
        {
            return NotFound("pipeline");
        }
        if (selection.Validate() is { Count: > 0 } errors)
        {
            return TypedResults.ValidationProblem(errors);
        }
        var count = selection.Ids is { Length: > 0 } ids ? await byIds(ids) : await byRange(selection.From!.Value, selection.To!.Value);
        await notifier.PagesChangedAsync(storeId, cancellationToken);
        return TypedResults.Ok(new DeadLetterActionResult(count));
    }

    /// <summary>The latest delivery attempts of the pipeline, newest first (webhook-id, status, latency, outcome, first event ids).</summary>
    public static async Task<Results<Ok<List<RecentDelivery>>, NotFound<ProblemDetails>>> ListAttempts(
        Guid storeId, Guid pipelineId, PipelineService pipelines, RecentDeliveries deliveries, CancellationToken cancellationToken, int limit = 50)
    {
        if (await pipelines.FindAsync(storeId, pipelineId, cancellationToken) is null)
        {
            return NotFound("pipeline");
        }
        return TypedResults.Ok(await deliveries.ListAsync(pipelineId, limit, cancellationToken));
    }

    /// <summary>
    /// Delivers every archived event of the store received in <c>[from, to)</c> into the pipeline (through its filter),
    /// whenever the pipeline was created; a worker runs it, throttled. Progress: <c>GET …/replays/{id}</c>.
    /// </summary>
    public static async Task<Results<Accepted<ReplayAccepted>, ValidationProblem, NotFound<ProblemDetails>, ProblemHttpResult>> ReplayWindow(
        Guid storeId, Guid pipelineId, ReplayRequest request, PipelineService pipelines, ReplayService replays, CancellationToken cancellationToken)
    {
        if (await pipelines.FindAsync(storeId, pipelineId, cancellationToken) is not { } pipeline)
        {
            return NotFound("pipeline");
        }
        if (ReplayService.Validate(request.From, request.To) is { Count: > 0 } errors)
        {
            return TypedResults.ValidationProblem(errors);
        }
        if (!pipeline.Enabled)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status409Conflict, title: "The pipeline is disabled", detail: "Enable it before replaying into it.");
        }
        var replay = await replays.CreateAsync(pipeline, request.From!.Value, request.To!.Value, cancellationToken);
        return TypedResults.Accepted($"/api/admin/v1/stores/{storeId}/replays/{replay.Id}", new ReplayAccepted(replay.Id));
    }

    public static async Task<Results<Ok<List<ReplayDto>>, NotFound<ProblemDetails>>> ListReplays(
        Guid storeId, Guid pipelineId, PipelineService pipelines, ReplayService replays, CancellationToken cancellationToken, int limit = 50)
    {
        if (await pipelines.FindAsync(storeId, pipelineId, cancellationToken) is null)
        {
            return NotFound("pipeline");
        }
        return TypedResults.Ok((await replays.ListAsync(storeId, pipelineId, limit, cancellationToken)).Select(ReplayDto.Of).ToList());
    }

    public static async Task<Results<Ok<ReplayDto>, NotFound<ProblemDetails>>> GetReplay(
        Guid storeId, Guid replayId, ReplayService replays, CancellationToken cancellationToken) =>
        await replays.FindAsync(storeId, replayId, cancellationToken) is { } replay ? TypedResults.Ok(ReplayDto.Of(replay)) : NotFound("replay");

    /// <summary>What happened to one event: accepted (door, time, enrichment) or dropped (reason), then every delivery attempt per pipeline.</summary>
    public static async Task<Results<Ok<EventTrace>, NotFound<ProblemDetails>>> GetEventTrace(
        Guid storeId, string eventId, EventTraces traces, CancellationToken cancellationToken) =>
        await traces.FindAsync(storeId, eventId, cancellationToken) is { } trace ? TypedResults.Ok(trace) : NotFound("event");

    public static async Task<Ok<DroppedEventsReport>> GetDroppedEvents(Guid storeId, DroppedEvents dropped, int limit = 100) =>
        TypedResults.Ok(await dropped.ReadAsync(storeId, limit));

    /// <summary>The store's entries the worker could not read, newest first, with every field's raw bytes (base64).</summary>
    public static async Task<Ok<List<QuarantinedEntryDto>>> ListQuarantine(
        Guid storeId, QuarantineService quarantine, CancellationToken cancellationToken, int limit = 100) =>
        TypedResults.Ok((await quarantine.ListAsync(storeId, limit, cancellationToken)).Select(QuarantinedEntryDto.Of).ToList());

    /// <summary>Appends the entry's fields to its stream again (once the worker can read it) and removes it from the quarantine.</summary>
    public static async Task<Results<Accepted, NotFound<ProblemDetails>>> ReplayQuarantined(
        Guid storeId, long entryId, QuarantineService quarantine, CancellationToken cancellationToken) =>
        await quarantine.ReplayAsync(storeId, [entryId], cancellationToken) > 0 ? TypedResults.Accepted((string?)null) : NotFound("quarantined entry");

    public static async Task<Results<NoContent, NotFound<ProblemDetails>>> DiscardQuarantined(
        Guid storeId, long entryId, QuarantineService quarantine, CancellationToken cancellationToken) =>
        await quarantine.DiscardAsync(storeId, [entryId], cancellationToken) > 0 ? TypedResults.NoContent() : NotFound("quarantined entry");

    public static async Task<Results<Ok<List<UserSummary>>, ProblemHttpResult>> ListUsers(
        ClaimsPrincipal user, UserAdministration administration, CancellationToken cancellationToken) =>
        user.IsOperator() ? TypedResults.Ok(await administration.ListAsync(cancellationToken)) : OperatorsOnly();

    public static async Task<Results<NoContent, ProblemHttpResult, NotFound<ProblemDetails>>> LockUser(
        string userId, ClaimsPrincipal user, UserAdministration administration)
    {
        if (!user.IsOperator())
        {
            return OperatorsOnly();
        }
        return await administration.LockAsync(userId, user.FindFirstValue(ClaimTypes.NameIdentifier)) ? TypedResults.NoContent() : NotFound("user (or it is you)");
    }

    public static async Task<Results<NoContent, ProblemHttpResult, NotFound<ProblemDetails>>> UnlockUser(
        string userId, ClaimsPrincipal user, UserAdministration administration)
    {
        if (!user.IsOperator())
        {
            return OperatorsOnly();
        }
        return await administration.UnlockAsync(userId, user.FindFirstValue(ClaimTypes.NameIdentifier)) ? TypedResults.NoContent() : NotFound("user");
    }

    /// <summary>The old password stops working; the answer carries the one-time link to set a new one (shown this once).</summary>
    public static async Task<Results<Ok<PasswordResetDto>, ProblemHttpResult, NotFound<ProblemDetails>>> ResetPassword(
        string userId, ClaimsPrincipal user, UserAdministration administration, HttpRequest request)
    {
        if (!user.IsOperator())
        {
            return OperatorsOnly();
        }
        return await administration.ResetPasswordAsync(userId, user.FindFirstValue(ClaimTypes.NameIdentifier)) is { } path
            ? TypedResults.Ok(new PasswordResetDto($"{request.Scheme}://{request.Host}{path}"))
            : NotFound("user");
    }

    private static ProblemHttpResult OperatorsOnly() =>
        TypedResults.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Only operators manage users");

    private static ProblemHttpResult QuotaExceeded(StoreQuotaExceededException ex) =>
        TypedResults.Problem(statusCode: StatusCodes.Status409Conflict, title: "Store quota reached", detail: ex.Message);

    private static NotFound<ProblemDetails> NotFound(string what) =>
        TypedResults.NotFound(new ProblemDetails { Status = StatusCodes.Status404NotFound, Title = $"No such {what}" });
}

/// <summary>A store; <see cref="AllowedPrivateNetworks"/> null means the operator's default, as do null retention days.</summary>
public sealed record StoreDto(Guid Id, string Name, DateTimeOffset CreatedAt, IReadOnlyList<string>? AllowedPrivateNetworks,
    int? EventRetentionDays, int? DeadLetterRetentionDays)
{
    public static StoreDto Of(Store s) => new(s.Id, s.Name, s.CreatedAt, s.AllowedPrivateNetworks, s.EventRetentionDays, s.DeadLetterRetentionDays);
}

public sealed record RetentionRequest(int? EventDays, int? DeadLetterDays);

public sealed record PasswordResetDto(string ResetLink);

public sealed record AllowedPrivateNetworksRequest(List<string>? Networks);

public sealed record CreateStoreRequest(string? Name);

public sealed record CreateTokenRequest(string? Name, List<string>? AllowedOrigins, int? RateLimitPerMinute, int? RateLimitPerIpPerMinute);

public sealed record TokenDto(Guid Id, string Name, string DisplayPrefix, IReadOnlyList<string> AllowedOrigins, int? RateLimitPerMinute,
    int? RateLimitPerIpPerMinute, bool Revoked, DateTimeOffset CreatedAt, DateTimeOffset? RevokedAt)
{
    public static TokenDto Of(AccessToken t) =>
        new(t.Id, t.Name, t.DisplayPrefix, t.AllowedOrigins, t.RateLimitPerMinute, t.RateLimitPerIpPerMinute, t.Revoked, t.CreatedAt, t.RevokedAt);
}

/// <summary>The one answer that carries the token's plain text.</summary>
public sealed record CreatedTokenDto(Guid Id, string Name, string Token, string DisplayPrefix, IReadOnlyList<string> AllowedOrigins,
    int? RateLimitPerMinute, int? RateLimitPerIpPerMinute, DateTimeOffset CreatedAt)
{
    public static CreatedTokenDto Of(CreatedToken c) => new(c.Entity.Id, c.Entity.Name, c.Token, c.Entity.DisplayPrefix,
        c.Entity.AllowedOrigins, c.Entity.RateLimitPerMinute, c.Entity.RateLimitPerIpPerMinute, c.Entity.CreatedAt);
}

/// <summary>A pipeline to create or replace; <c>batchSize</c> and <c>lingerMs</c> left out mean the worker's defaults.</summary>
public sealed record PipelineRequest(string? Name, string? Kind, string? Url, List<string>? EventTypes, bool? Enabled,
    int? BatchSize = null, int? LingerMs = null, List<string>? RequiredConsent = null, List<string>? HashFields = null)
{
    public PipelineInput ToInput() =>
        new(Name ?? "", Kind ?? "", Url, EventTypes ?? [], Enabled ?? true, BatchSize, LingerMs, RequiredConsent ?? [], HashFields ?? []);
}

/// <summary>A pipeline without its secrets: those are only in the create and rotate answers.</summary>
public sealed record PipelineDto(Guid Id, string Name, string Kind, string? Url, IReadOnlyList<string> EventTypes, bool Enabled,
    string? DisabledReason, DateTimeOffset? FailingSince, DateTimeOffset? PreviousSecretExpiresAt, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt,
    int? BatchSize, int? LingerMs, IReadOnlyList<string> RequiredConsent, IReadOnlyList<string> HashFields)
{
    public static PipelineDto Of(Pipeline p) => new(p.Id, p.Name, p.Kind, p.Url, p.EventTypes, p.Enabled, p.DisabledReason, p.FailingSince,
        p.PreviousSecret is null ? null : p.PreviousSecretExpiresAt, p.CreatedAt, p.UpdatedAt, PipelineSettings.BatchSizeOf(p), PipelineSettings.LingerMsOf(p),
        p.RequiredConsent, p.HashFields);
}

public sealed record CreatedPipelineDto(Guid Id, string Name, string Kind, string? Url, IReadOnlyList<string> EventTypes, bool Enabled, string Secret)
{
    public CreatedPipelineDto(PipelineDto p, string secret) : this(p.Id, p.Name, p.Kind, p.Url, p.EventTypes, p.Enabled, secret)
    {
    }
}

public sealed record DeadLetterDto(long Id, string EventId, string EventType, int Attempts, int? LastStatus, string? LastError,
    string? ResponseExcerpt, DateTimeOffset CreatedAt)
{
    public static DeadLetterDto Of(DeadLetter d) => new(d.Id, d.EventId, d.EventType, d.Attempts, d.LastStatus, d.LastError, d.ResponseExcerpt, d.CreatedAt);
}

/// <summary>Which dead letters to act on: <c>ids</c>, or a creation-time range <c>[from, to)</c>.</summary>
public sealed record DeadLetterSelection(long[]? Ids, DateTimeOffset? From, DateTimeOffset? To)
{
    public Dictionary<string, string[]> Validate()
    {
        var errors = new Dictionary<string, string[]>();
        if (Ids is { Length: > 0 })
        {
            if (Ids.Length > 10_000)
            {
                errors["ids"] = ["At most 10000 ids at once; use a time range for more."];
            }
        }
        else if (From is null || To is null || From >= To)
        {
            errors["selection"] = ["Give either `ids` or a range with `from` before `to`."];
        }
        return errors;
    }
}

public sealed record DeadLetterActionResult(int Count);

/// <summary>The window of a replay: events received at or after <c>from</c> and before <c>to</c>.</summary>
public sealed record ReplayRequest(DateTimeOffset? From, DateTimeOffset? To);

public sealed record ReplayAccepted(Guid Id);

/// <summary>Real events to test a pipeline with: archived events by id, or the store's newest <c>recent</c>.</summary>
/// <summary>What a pipeline test sends: one pasted event (the JSON of a <c>POST /beacon</c> event), archived ids, the N newest, or (none) a made-up one.</summary>
public sealed record TestEventRequest(List<string>? EventIds, int? Recent, JsonElement? Event = null);

public sealed record QuarantinedFieldDto(string Name, byte[] Value);

public sealed record QuarantinedEntryDto(long Id, string Stream, string EntryId, IReadOnlyList<QuarantinedFieldDto> Fields, string Error,
    Guid? StoreId, DateTimeOffset FirstSeenAt)
{
    public static QuarantinedEntryDto Of(QuarantinedEntry q) => new(q.Id, q.Stream, q.EntryId,
        q.FieldNames.Zip(q.FieldValues, (name, value) => new QuarantinedFieldDto(name, value)).ToList(), q.Error, q.StoreId, q.FirstSeenAt);
}
