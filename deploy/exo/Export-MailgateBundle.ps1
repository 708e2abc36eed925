#Requires -Version 7.0
<#
.SYNOPSIS
    Writes the mailgate import bundle: Exchange Online's application access policies, recipients, group members
    and RBAC for Applications, plus the apps holding the tenant-wide Entra Mail.Send grant, as one JSON file.

.DESCRIPTION
    Each key of the bundle holds one cmdlet's output as ConvertTo-Json prints it. Import it with
        mailgate sync import bundle.json            # dry run: prints the diff, changes nothing
        mailgate sync import bundle.json --apply    # makes the mirror match, in one transaction
    or POST it to /v1/admin/import (role Admin). Import is a full mirror: what is not in the bundle is removed
    from the mirror (mailgate's apps and keys excepted).

    Needs the ExchangeOnlineManagement module (View-Only Configuration and View-Only Recipients suffice) and,
    unless -SkipEntra, Microsoft.Graph.Applications with Application.Read.All.

.EXAMPLE
    ./Export-MailgateBundle.ps1 -Organization contoso.onmicrosoft.com -Path ./bundle.json
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $Organization,
    [string] $Path = './mailgate-bundle.json',
    # Leave out EntraMailSendGrants (then the import keeps each app's recorded grant as it is).
    [switch] $SkipEntra
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

# Enums must be printed as names (RestrictAccess), not numbers: -EnumsAsStrings needs PowerShell 7.
function ConvertTo-BundleJson($Value) {
    if ($null -eq $Value) { return '[]' }
    return ConvertTo-Json -InputObject @($Value) -Depth 5 -EnumsAsStrings
}

Connect-ExchangeOnline -Organization $Organization -ShowBanner:$false

$recipientFields = @(
    'Name', 'DisplayName', 'Alias', 'PrimarySmtpAddress', 'ExternalDirectoryObjectId', 'Guid', 'RecipientType',
    'RecipientTypeDetails', 'Department', 'Company', 'Office', 'City', 'StateOrProvince', 'CountryOrRegion', 'Title'
) + (1..15 | ForEach-Object { "CustomAttribute$_" }) + @(
    @{ Name = 'EmailAddresses'; Expression = { @($_.EmailAddresses | ForEach-Object { "$_" }) } }
)
# Guid is the Exchange object id that Get-ApplicationAccessPolicy's ScopeIdentityRaw names.
$recipients = Get-Recipient -ResultSize Unlimited | Select-Object -Property $recipientFields |
    ForEach-Object { $_.Guid = "$($_.Guid)"; $_ }

# Get-Recipient has no UserPrincipalName, and a mailbox answers to its UPN too (Graph's /users/{upn}), which may
# differ from its primary address: take it from Get-Mailbox and Get-MailUser, by ExternalDirectoryObjectId.
$upnByObjectId = @{}
foreach ($m in @(Get-Mailbox -ResultSize Unlimited) + @(Get-MailUser -ResultSize Unlimited)) {
    if ($m.ExternalDirectoryObjectId -and $m.UserPrincipalName) {
        $upnByObjectId["$($m.ExternalDirectoryObjectId)"] = "$($m.UserPrincipalName)"
    }
}
$recipients = $recipients | ForEach-Object {
    $upn = $upnByObjectId["$($_.ExternalDirectoryObjectId)"]
    $_ | Add-Member -NotePropertyName UserPrincipalName -NotePropertyValue $upn -PassThru
}

$memberFields = 'PrimarySmtpAddress', 'ExternalDirectoryObjectId', 'RecipientType', 'RecipientTypeDetails'
$groupMembers = [ordered]@{}
foreach ($group in $recipients | Where-Object RecipientTypeDetails -eq 'MailUniversalSecurityGroup') {
    $members = Get-DistributionGroupMember -Identity $group.PrimarySmtpAddress -ResultSize Unlimited |
        Select-Object -Property $memberFields
    $groupMembers["$($group.PrimarySmtpAddress)"] = @($members)
}

$policies = Get-ApplicationAccessPolicy
$servicePrincipals = Get-ServicePrincipal | Select-Object AppId, ObjectId, DisplayName, Identity
$scopes = Get-ManagementScope | Select-Object Name, RecipientFilter, ScopeRestrictionType
$assignments = Get-ManagementRoleAssignment -RoleAssigneeType ServicePrincipal |
    Select-Object Name, Role, RoleAssignee, RoleAssigneeName, CustomResourceScope, RoleAssigneeType

$parts = [ordered]@{
    ApplicationAccessPolicies = ConvertTo-BundleJson $policies
    Recipients                = ConvertTo-BundleJson $recipients
    GroupMembers              = ConvertTo-Json -InputObject $groupMembers -Depth 5 -EnumsAsStrings
    ServicePrincipals         = ConvertTo-BundleJson $servicePrincipals
    ManagementScopes          = ConvertTo-BundleJson $scopes
    ManagementRoleAssignments = ConvertTo-BundleJson $assignments
}

if (-not $SkipEntra) {
    Connect-MgGraph -Scopes 'Application.Read.All' -NoWelcome
    $graph = Get-MgServicePrincipal -Filter "AppId eq '00000003-0000-0000-c000-000000000000'"
    $mailSend = ($graph.AppRoles | Where-Object Value -eq 'Mail.Send').Id
    $holders = Get-MgServicePrincipalAppRoleAssignedTo -ServicePrincipalId $graph.Id -All |
        Where-Object { $_.AppRoleId -eq $mailSend -and $_.PrincipalType -eq 'ServicePrincipal' } |
        ForEach-Object { (Get-MgServicePrincipal -ServicePrincipalId $_.PrincipalId).AppId } |
        Sort-Object -Unique
    $parts.EntraMailSendGrants = ConvertTo-BundleJson $holders
}

# Each part is already JSON; put them together without converting twice.
$body = ($parts.GetEnumerator() | ForEach-Object { "  `"$($_.Key)`": $($_.Value)" }) -join ",`n"
Set-Content -Path $Path -Value "{`n$body`n}" -Encoding utf8NoBOM
Write-Host "wrote $Path"
