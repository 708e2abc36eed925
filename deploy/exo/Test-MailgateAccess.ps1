#Requires -Version 7.0
<#
.SYNOPSIS
    Checks, after Exchange's propagation window, that mailgate's identity may send as the mailboxes it should and
    as no other, and (optionally) that mailgate's mirror answers the same.

.DESCRIPTION
    Grants nothing and changes nothing: it only reads.

      -Model AccessPolicy  Test-ApplicationAccessPolicy per mailbox: AccessCheckResult must be Granted for each
                           -AllowedMailbox and Denied for each -DeniedMailbox.
      -Model Rbac          Test-ServicePrincipalAuthorization per mailbox: "Application Mail.Send" must be
                           InScope True for each -AllowedMailbox and not for each -DeniedMailbox. It also checks
                           that the identity holds no tenant-wide Entra Mail.Send or Mail.ReadWrite grant, which
                           would add up with the scoped role and reach every mailbox.

    With -MailgateUrl and -MailgateKey (a key with the Audit.Read or Admin role) each mailbox is also put to
    mailgate's POST /v1/access/test, whose access_check_result must match Exchange's. A difference is drift
    waiting to happen: export and import the bundle again (Export-MailgateBundle.ps1).

    Exits 1 when any answer differs from what was expected.

.EXAMPLE
    ./Test-MailgateAccess.ps1 -Model Rbac -ServicePrincipalObjectId 15ca046b-ee0f-426e-858e-949b5f826596 `
        -AllowedMailbox notifications@contoso.test -DeniedMailbox ceo@contoso.test `
        -MailgateUrl https://mailgate.contoso.internal -MailgateKey $env:MAILGATE_AUDIT_KEY
#>
[CmdletBinding(DefaultParameterSetName = 'ById')]
param(
    [Parameter(Mandatory)] [ValidateSet('AccessPolicy', 'Rbac')] [string] $Model,
    # mailgate's managed identity: its Object (principal) ID (main.bicep's output appPrincipalId) ...
    [Parameter(Mandatory, ParameterSetName = 'ById')] [guid] $ServicePrincipalObjectId,
    # ... or its name (main.bicep's output appIdentityName, e.g. id-mailgate), looked up in Entra ID.
    [Parameter(Mandatory, ParameterSetName = 'ByName')] [string] $IdentityName,
    [Parameter(Mandatory)] [string[]] $AllowedMailbox,
    [Parameter(Mandatory)] [string[]] $DeniedMailbox,
    [string] $MailgateUrl,
    [string] $MailgateKey
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

# 1. The identity's app id: Exchange names apps by app id.
Connect-MgGraph -Scopes 'Application.Read.All' -NoWelcome
if ($PSCmdlet.ParameterSetName -eq 'ByName') {
    $found = @(Get-MgServicePrincipal -Filter "displayName eq '$($IdentityName -replace "'", "''")'" -All)
    if ($found.Count -ne 1) {
        throw "$($found.Count) service principals are named '$IdentityName'; pass -ServicePrincipalObjectId"
    }
    $sp = $found[0]
} else {
    $sp = Get-MgServicePrincipal -ServicePrincipalId $ServicePrincipalObjectId
}
$failures = [System.Collections.Generic.List[string]]::new()

# 2. Under RBAC, no tenant-wide Entra grant may be left beside the scoped roles.
if ($Model -eq 'Rbac') {
    $graph = Get-MgServicePrincipal -Filter "AppId eq '00000003-0000-0000-c000-000000000000'"
    $unscoped = $graph.AppRoles | Where-Object Value -in 'Mail.Send', 'Mail.ReadWrite'
    foreach ($held in Get-MgServicePrincipalAppRoleAssignment -ServicePrincipalId $sp.Id) {
        $role = $unscoped | Where-Object Id -eq $held.AppRoleId
        if ($held.ResourceId -eq $graph.Id -and $role) {
            $failures.Add(
                "$($sp.DisplayName) holds the tenant-wide Entra $($role.Value) grant: it reaches every mailbox")
        }
    }
}

Connect-ExchangeOnline -ShowBanner:$false

# 3. Exchange's own answer for one mailbox: 'Granted' or 'Denied'.
function Get-ExchangeAnswer([string] $Mailbox) {
    if ($Model -eq 'AccessPolicy') {
        return "$((Test-ApplicationAccessPolicy -Identity $Mailbox -AppId $sp.AppId).AccessCheckResult)"
    }
    $send = Test-ServicePrincipalAuthorization -Identity $sp.AppId -Resource $Mailbox |
        Where-Object RoleName -eq 'Application Mail.Send'
    if ($send -and ($send | Where-Object InScope -eq $true)) { return 'Granted' }
    return 'Denied'
}

# 4. mailgate's answer from its mirror, when asked to compare.
function Get-MailgateAnswer([string] $Mailbox) {
    $body = @{ app = "$($sp.AppId)"; mailbox = $Mailbox } | ConvertTo-Json
    $result = Invoke-RestMethod -Method Post -Uri "$($MailgateUrl.TrimEnd('/'))/v1/access/test" `
        -Headers @{ Authorization = "Bearer $MailgateKey" } -ContentType 'application/json' -Body $body
    return "$($result.access_check_result)"
}

$cases = @($AllowedMailbox | ForEach-Object { @{ Mailbox = $_; Expected = 'Granted' } }) +
    @($DeniedMailbox | ForEach-Object { @{ Mailbox = $_; Expected = 'Denied' } })
$rows = foreach ($case in $cases) {
    $exchange = Get-ExchangeAnswer $case.Mailbox
    $mailgate = if ($MailgateUrl) { Get-MailgateAnswer $case.Mailbox } else { '-' }
    if ($exchange -ne $case.Expected) {
        $failures.Add("Exchange answers $exchange for $($case.Mailbox); expected $($case.Expected)")
    }
    if ($MailgateUrl -and $mailgate -ne $exchange) {
        $failures.Add("mailgate answers $mailgate for $($case.Mailbox); Exchange answers $exchange")
    }
    [pscustomobject]@{ Mailbox = $case.Mailbox; Expected = $case.Expected; Exchange = $exchange; Mailgate = $mailgate }
}
$rows | Format-Table -AutoSize

if ($failures.Count -gt 0) {
    $failures | ForEach-Object { Write-Error $_ -ErrorAction Continue }
    exit 1
}
Write-Host 'Exchange grants exactly the expected mailboxes.'
