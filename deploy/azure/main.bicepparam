// Example parameters for main.bicep; replace every value. Deploy with
//   az deployment group create -g rg-mailgate -f deploy/azure/main.bicep -p deploy/azure/main.bicepparam
using './main.bicep'

param name = 'mailgate'
param image = 'crcontoso.azurecr.io/mailgate:0.1.0'
param registryName = 'crcontoso'

// Passwordless Postgres sign-in is coming (deploy/README.md); until it is released use 'password', with the two
// database URLs in the Key Vault below.
param databaseAuth = 'password'
param postgresServerName = 'psql-mailgate-contoso'
param keyVaultName = 'kv-mailgate-contoso'
param postgresPasswordAdminPassword = readEnvironmentVariable('MAILGATE_PG_ADMIN_PASSWORD', '')

param postgresAdminObjectId = '55555555-5555-5555-5555-555555555555'
param postgresAdminName = 'mailgate-dbas'
param postgresAdminType = 'Group'

param callerAudiences = [
  'api://mailgate'
]
param tags = {
  service: 'mailgate'
}
